#!/usr/bin/env bash
# contrib/stress.sh [RUNS] (make test-stress): runs the Go test suite RUNS times (default 5)
# while a busy loop runs on every core, as on a shared CI machine, and reports every test that
# failed, by name, with the runs it failed in. Exits 0 only when every run passed.
#
#   STRESS_PKGS   packages to run (default ./...)
#   STRESS_HOGS   busy loops (default: one per core)
#   STRESS_OUT    directory for each run's log and JSON events (default: a new temp dir)
#   STRESS_PARALLEL  parallel tests of a package at once (go test -parallel; default 4, as make test)
set -u
cd "$(dirname "$0")/.."
runs=${1:-5}
pkgs=${STRESS_PKGS:-./...}
hogs=${STRESS_HOGS:-$(nproc)}
out=${STRESS_OUT:-$(mktemp -d -t portico-stress.XXXXXX)}
parallel=${STRESS_PARALLEL:-4}
mkdir -p "$out"

pids=()
stop_hogs() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for _ in $(seq "$hogs"); do
	( while :; do :; done ) &
	pids+=($!)
done
echo "stress: $runs run(s) of go test -race $pkgs with $hogs busy loop(s) on $(nproc) core(s); logs in $out"

go build -o bin/portico . || exit 1
start=$(date +%s)
passed=0
for r in $(seq "$runs"); do
	t0=$(date +%s)
	go tool gotestsum --format dots --hide-summary=all --jsonfile "$out/run$r.json" \
		-- -race -count=1 -parallel "$parallel" -timeout 20m $pkgs >"$out/run$r.log" 2>&1
	rc=$?
	# A test (or a package, when it failed outside any test) that reported "fail".
	grep '"Action":"fail"' "$out/run$r.json" |
		sed -n 's/.*"Package":"\([^"]*\)"\(,"Test":"\([^"]*\)"\)\{0,1\}.*/\1 \3/p' |
		sed 's/ $/ (package)/' | sort -u >"$out/run$r.failed"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "run $r/$runs: passed in $(($(date +%s) - t0)) s"
	else
		echo "run $r/$runs: FAILED in $(($(date +%s) - t0)) s (exit $rc):"
		sed 's/^/    /' "$out/run$r.failed"
		[ -s "$out/run$r.failed" ] || tail -20 "$out/run$r.log" | sed 's/^/    /'
	fi
done
echo
echo "stress: $passed of $runs runs passed in $(($(date +%s) - start)) s under $hogs busy loop(s)"
if [ "$passed" -ne "$runs" ]; then
	echo "flaky or failing (runs failed in):"
	for f in "$out"/run*.failed; do
		r=${f##*/run}; r=${r%.failed}
		sed "s/\$/ run$r/" "$f"
	done | awk '{k=$1" "$2; v[k]=v[k]" "$3} END {for (k in v) print "    " k ":" v[k]}' | sort
	exit 1
fi
