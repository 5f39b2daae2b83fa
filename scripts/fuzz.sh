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
#
# Every target must also run at least MINRATE (default 100) inputs per
# second of fuzzing: a target that stalls the engine (one that is slow per
# input, or whose large seeds make each minimization of a new input run to
# its time limit) otherwise passes while testing almost nothing. The rate is
# the engine's final execs count over the time from "now fuzzing" to its
# last report, so it is measured the same way for a duration and for a count
# FUZZTIME; every target's rate is printed, and slow targets fail the run
# after all targets have run. With a count FUZZTIME the engine counts the
# calls its minimizer makes among the inputs and stops at the count, so a
# target slow per input fails either way but a minimization stall shows only
# in a duration run (make fuzz).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${FUZZTIME:-10m}
parallel=${PARALLEL:-1}
minrate=${MINRATE:-100}
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
slow=()
while read -r dir name; do
	pkg="./${dir#./}"
	echo "== $pkg $name"
	out=$(go test "$pkg" -timeout 0 -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" 2>&1) || {
		echo "$out"
		echo "FAIL: $pkg $name" >&2
		exit 1
	}
	grep -E '^fuzz: elapsed' <<<"$out" | tail -n 1
	# "fuzz: elapsed: 1m2s, ..." -> seconds; the engine rounds to 1 s.
	rate=$(awk -v min="$minrate" '
		function secs(d,   t, n, u) {
			t = 0
			while (match(d, /^[0-9.]+[hms]/)) {
				n = substr(d, 1, RLENGTH - 1) + 0; u = substr(d, RLENGTH, 1)
				t += (u == "h" ? 3600 : u == "m" ? 60 : 1) * n
				d = substr(d, RLENGTH + 1)
			}
			return t
		}
		/^fuzz: elapsed: .*now fuzzing/ { split($3, a, ","); start = secs(a[1]) }
		/^fuzz: elapsed: .*execs: / { split($3, a, ","); end = secs(a[1]); execs = $5 + 0 }
		END {
			if (execs == 0) { print "none 0"; exit }
			d = end - start; if (d < 1) d = 1
			r = execs / d
			printf "%s %d %d %d\n", (r < min ? "slow" : "ok"), r, execs, d
		}' <<<"$out")
	read -r verdict r n d <<<"$rate"
	if [ "$verdict" = ok ]; then
		echo "rate: $r inputs/s ($n in ${d}s)"
	else
		echo "rate: $r inputs/s ($n in ${d:-0}s), below $minrate: FAIL" >&2
		slow+=("$pkg $name: $r inputs/s")
	fi
done <<<"$targets"
if [ "${#slow[@]}" -gt 0 ]; then
	echo "FAIL: below $minrate inputs/s:" >&2
	printf '  %s\n' "${slow[@]}" >&2
	exit 1
fi
echo "all $count fuzz targets passed, each at $minrate inputs/s or more"
