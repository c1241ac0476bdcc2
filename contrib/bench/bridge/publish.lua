-- wrk script: POST one event to the HTTP bridge's publisher service (Crossbar's body shape).
wrk.method = "POST"
wrk.body = '{"topic": "bench.topic", "args": ["Hello, world"]}'
wrk.headers["Content-Type"] = "application/json"
