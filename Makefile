# Portico: `make demo` serves the Flask example on http://127.0.0.1:8080; `make test` runs
# every test. Both install what is missing (Debian packages, as root, no prompt).

GO       ?= go
BIN      := bin/portico
APT_PKGS := uwsgi-core uwsgi-plugin-python3 python3-flask python3-django python3-autobahn \
            python3-msgpack python3-cbor2 python3-ubjson python3-twisted python3-nacl nginx-light wrk chromium curl \
            nats-server
FUZZTIME ?= 5s

.PHONY: all build deps demo test test-go test-allocs test-js test-stress fuzz fuzz-short bench bench-memory bench-idle bench-cluster vet clean

all: build

build:
	$(GO) build -o $(BIN) .

# deps installs the Debian packages the demo, the tests and the benchmarks use; it does
# nothing when they are all present.
deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: deps build
	cd contrib/examples/flask && ../../../$(BIN) start

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps test-js vet test-allocs fuzz-short test-go

test-js:
	@if [ -f tests/js/package-lock.json ]; then cd tests/js && npm ci --no-audit --no-fund; fi

# gotestsum (a tool dependency in go.mod) runs go test and ends with the list of skipped tests
# and why, so that a reader sees what did not run. Most tests wait on processes (uwsgi, Python,
# nginx, portico) rather than compute: TEST_PARALLEL of a package's parallel tests run at once
# (go test's default is GOMAXPROCS, 2 on a 2-core machine). Tests that measure memory, count
# this process's files or goroutines, set environment variables or load the machine stay
# serial, and run before the parallel ones.
TEST_PARALLEL ?= 4
test-go: build
	$(GO) tool gotestsum --format pkgname --format-hide-empty-pkg -- -race -count=1 -parallel $(TEST_PARALLEL) -timeout 15m ./...

# The suite STRESS_RUNS times (default 5) while a busy loop runs on every core, as on a busy
# CI machine; reports every test that failed, by name (contrib/stress.sh).
STRESS_RUNS ?= 5
test-stress: deps test-js build
	STRESS_PARALLEL=$(TEST_PARALLEL) contrib/stress.sh $(STRESS_RUNS)

# Allocation budgets are asserted without the race detector (it allocates on its own).
test-allocs:
	$(GO) test -count=1 -run 'Allocs' ./...

# Every fuzz target in the module (found in the sources), briefly in `make test`, for
# minutes each in `make fuzz`.
fuzz-short:
	contrib/fuzz.sh $(FUZZTIME)

fuzz:
	contrib/fuzz.sh 2m

bench: deps build
	@if [ -x contrib/bench/run ]; then contrib/bench/run; else echo "contrib/bench/run not found"; exit 1; fi

# Peak RSS of portico while it moves 1 GiB down and 512 MiB up (contrib/bench/memory/README.md).
bench-memory: deps build
	$(GO) run ./contrib/bench/memory -portico $(BIN)

# RSS of 10,000 idle WAMP sessions and 10,000 idle keep-alive connections (contrib/bench/idle/README.md).
bench-idle: deps build
	$(GO) run ./contrib/bench/idle -portico $(BIN)

# WAMP calls and deliveries across 1, 2, 3 nodes clustered over NATS next to a single node
# (contrib/bench/RESULTS.md, "Cluster over NATS").
bench-cluster: build
	$(GO) run ./contrib/bench/cluster -portico $(BIN) -rounds 5

clean:
	rm -rf bin
