#!/bin/sh
# Runs every native fuzz target in the module for the given time each (default 5s).
# usage: contrib/fuzz.sh [fuzztime]
set -eu
t="${1:-5s}"
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $target ($t)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
			cat "$log"
			exit 1
		fi
	done
done
