#!/bin/sh
# Runs every native fuzz target in the module for the given time each (default 5s). Targets
# are found in the sources (every `func FuzzXxx(` in a _test.go file), so one added in any
# package is run without listing it here, and no test binary has to start to list them.
# usage: contrib/fuzz.sh [fuzztime]
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" when
# -fuzztime runs out while a worker is busy (go.dev/issue/75804, fixed in Go 1.27). Such a
# failure wrote no failing input to testdata/fuzz; it is reported and not counted. A failure
# with a new input in testdata/fuzz/<target>, or with any other message, fails the run.
set -eu
t="${1:-5s}"
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dirs=$(find . -name '*_test.go' -not -path './.git/*' -not -path '*/node_modules/*' -not -path '*/testdata/*' \
	-exec grep -l '^func Fuzz[A-Za-z0-9_]*(' {} + | xargs -n1 dirname | sort -u)
n=0
flaky=0
for dir in $dirs; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go | sed 's/^func //; s/($//' | sort -u); do
		echo "fuzz $dir $target ($t)"
		corpus="$dir/testdata/fuzz/$target"
		before=$(ls "$corpus" 2>/dev/null | wc -l)
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$dir" >"$log" 2>&1; then
			after=$(ls "$corpus" 2>/dev/null | wc -l)
			if [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$log" &&
				! grep -q 'Failing input written' "$log"; then
				echo "  coordinator deadline race, no failing input (go.dev/issue/75804): not counted"
				flaky=$((flaky + 1))
				continue
			fi
			cat "$log"
			exit 1
		fi
		n=$((n + 1))
	done
done
if [ "$n" -eq 0 ]; then
	echo "no fuzz target passed" >&2
	exit 1
fi
echo "$n fuzz targets passed, $flaky hit the coordinator deadline race"
