-- wrk script: POST one call to the HTTP bridge's caller service (Crossbar's body shape); the
-- benchmark's callee echoes the arguments.
wrk.method = "POST"
wrk.body = '{"procedure": "bench.bridge_echo", "args": ["Hello, world"]}'
wrk.headers["Content-Type"] = "application/json"
