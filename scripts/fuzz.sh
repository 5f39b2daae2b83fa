#!/usr/bin/env bash
# Runs every fuzz target in the module, one after another, each for
# FUZZTIME (default 10m), with -parallel PARALLEL (default 1) workers.
# Targets are found by name (func FuzzXxx in *_test.go), so a new target is
# included without editing this script. A failing input is saved under the
# package's testdata/fuzz/ by go test; the script stops at the first failure.
#
#   scripts/fuzz.sh                  every target for 10 minutes
#   FUZZTIME=1000x scripts/fuzz.sh   a smoke run (CI): a count of inputs, not a
#                                    duration, which Go's engine can fail at
#                                    the deadline on a busy machine
#   scripts/fuzz.sh ./rpc            only the targets under ./rpc
#   SHARD=0/2 scripts/fuzz.sh        every other target (run 1/2 beside it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${FUZZTIME:-10m}
parallel=${PARALLEL:-1}
roots=("${@:-.}")

targets=$(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' "${roots[@]}" |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort -u)
if [ -n "${SHARD:-}" ]; then
	targets=$(awk -v i="${SHARD%/*}" -v n="${SHARD#*/}" '(NR - 1) % n == i' <<<"$targets")
fi
if [ -z "$targets" ]; then
	echo "no fuzz targets under ${roots[*]}" >&2
	exit 1
fi
count=$(wc -l <<<"$targets")
echo "fuzzing $count targets for $fuzztime each"
while read -r dir name; do
	pkg="./${dir#./}"
	echo "== $pkg $name"
	out=$(go test "$pkg" -timeout 0 -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" 2>&1) || {
		echo "$out"
		echo "FAIL: $pkg $name" >&2
		exit 1
	}
	grep -E '^fuzz: elapsed' <<<"$out" | tail -n 1
done <<<"$targets"
echo "all $count fuzz targets passed"
