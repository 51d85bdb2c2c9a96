#!/bin/sh
# callgrind.sh — instructions per op and per record of the masking-engine
# benchmarks, a figure that does not depend on how loaded the machine is.
#
#   bench/callgrind.sh                                  # CleanSDK and CleanREST
#   bench/callgrind.sh ./formats/clevertap:BenchmarkCleanSDK ./formats/segment:BenchmarkCleanURLHeavy
#   N1=500 N2=2500 RUNS=3 bench/callgrind.sh             # other op counts / repeats
#
# Each benchmark binary (go test -c) runs under valgrind --tool=callgrind,
# which counts the instructions the program executes, at -test.benchtime=N1x
# and N2x with -test.cpu=1. The difference divided by N2-N1 is the cost of
# one op without start-up (policy compile, warm-up call, runtime init). GC is
# off (GOGC=off: the benchmarks allocate nothing per op, and collections
# would run at times that depend on wall time) and so is asynchronous
# preemption (callgrind mishandles Go's preemption signal). Each count is the
# median of RUNS runs; the spread printed is (max-min)/median of the per-op
# figures over the runs. Records per op come from the benchmark's own
# ns/op and ns/record metrics.
#
# When `perf stat -e instructions:u` works (a PMU is exposed), PERF=1 uses
# it instead: faster, same method. The VM this project is measured on has no
# PMU, so callgrind is the default.
set -eu

N1=${N1:-1000}
N2=${N2:-4000}
RUNS=${RUNS:-3}
PERF=${PERF:-0}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ $# -eq 0 ]; then
	set -- ./formats/clevertap:BenchmarkCleanSDK ./formats/clevertap:BenchmarkCleanREST
fi
if [ "$PERF" != 1 ] && ! command -v valgrind >/dev/null 2>&1; then
	echo "callgrind.sh: valgrind not found; install it (apt-get install valgrind) or set PERF=1 where perf stat counts instructions" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# count BINARY BENCH N → prints "instructions records_per_op"
count() {
	bin=$1 bench=$2 n=$3
	if [ "$PERF" = 1 ]; then
		(cd "$pkgdir" && GOGC=off GOMAXPROCS=1 perf stat -x, -e instructions:u -o "$tmp/perf" \
			"$bin" -test.run='^$' -test.bench="^$bench\$" -test.benchtime="${n}x" -test.cpu=1) >"$tmp/out" 2>&1 || true # a failed run is reported below
		ir=$(awk -F, '/instructions/ {print $1}' "$tmp/perf")
	else
		(cd "$pkgdir" && GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
			--callgrind-out-file="$tmp/cg.out" \
			"$bin" -test.run='^$' -test.bench="^$bench\$" -test.benchtime="${n}x" -test.cpu=1) >"$tmp/out" 2>&1 || true # a failed run is reported below
		ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/out")
	fi
	recs=$(awk -v b="$bench" '$1 ~ "^"b {for (i = 3; i < NF; i++) { if ($(i+1) == "ns/op") op = $i; if ($(i+1) == "ns/record") rec = $i } }
		END { if (rec > 0) printf "%.0f", op / rec; else print 0 }' "$tmp/out")
	case $ir in
	'' | *[!0-9]*)
		echo "callgrind.sh: no instruction count for $bench at ${n}x:" >&2
		tail -5 "$tmp/out" >&2
		exit 1
		;;
	esac
	echo "$ir $recs"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "| benchmark | instructions/op | records/op | instructions/record | spread over $RUNS runs |"
echo "|---|---:|---:|---:|---:|"
for spec in "$@"; do
	pkg=${spec%%:*}
	bench=${spec#*:}
	bin="$tmp/$(echo "$pkg" | tr '/.' '__').test"
	pkgdir=$root/${pkg#./} # benchmarks read their testdata/ relative to the package, as go test runs them
	[ -x "$bin" ] || go test -c -o "$bin" "$pkg"
	: >"$tmp/per-op"
	recs=0
	for _ in $(seq "$RUNS"); do
		set -- $(count "$bin" "$bench" "$N1")
		a=$1
		set -- $(count "$bin" "$bench" "$N2")
		b=$1 recs=$2
		echo "$(( (b - a) / (N2 - N1) ))" >>"$tmp/per-op"
	done
	op=$(median <"$tmp/per-op")
	spread=$(sort -n "$tmp/per-op" | awk -v m="$op" 'NR == 1 {lo = $1} {hi = $1} END {printf "%.1f %%", 100 * (hi - lo) / m}')
	per=$(awk -v o="$op" -v r="$recs" 'BEGIN { if (r > 0) printf "%.0f", o / r; else print "–" }')
	echo "| $pkg $bench | $op | $recs | $per | $spread |"
done
