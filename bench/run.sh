#!/bin/sh
# run.sh - runs tpbench once and keeps its results: the table (tpbench.txt),
# every figure (tpbench.csv) and a PNG chart drawn with gnuplot (tpbench.png).
#
# usage: bench/run.sh [--tpbench PATH] [--out DIR] [tpbench options...]
#   PATH defaults to build/bench/tpbench under the source tree,
#   DIR to docs/bench (the results the README links to);
#   other options go to tpbench (--quick, --runs=N, ...).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tpbench="$here/../build/bench/tpbench"
out="$here/../docs/bench"
while [ $# -gt 0 ]; do
    case "$1" in
    --tpbench) tpbench=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) break ;;
    esac
done
if [ ! -x "$tpbench" ]; then
    echo "run.sh: no tpbench at $tpbench (build it, or pass --tpbench PATH)" >&2
    exit 2
fi
mkdir -p "$out"

"$tpbench" --csv="$out/tpbench.csv" --chart="$out/chart.dat" "$@" | tee "$out/tpbench.txt"

if command -v gnuplot >/dev/null 2>&1; then
    # The chart's subtitle names the machine, taken from the table's header.
    machine=$(sed -n 's/^# machine: //p' "$out/tpbench.txt" | head -n 1 | tr -d "'\"")
    when=$(sed -n 's/^# tpbench [^,]*, //p' "$out/tpbench.txt" | head -n 1)
    load=$(sed -n 's/.*load average now: \([0-9.]*\).*/\1/p' "$out/tpbench.txt" | head -n 1)
    machine="$machine, $when, load average $load at start"
    gnuplot -e "datafile='$out/chart.dat'; outfile='$out/tpbench.png'; machine='$machine'" \
        "$here/chart.gp"
    echo "run.sh: wrote $out/tpbench.txt, tpbench.csv, tpbench.png"
else
    echo "run.sh: gnuplot not found (apt-get install gnuplot-nox): no chart" >&2
    echo "run.sh: wrote $out/tpbench.txt, tpbench.csv"
fi
