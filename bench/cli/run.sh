#!/bin/bash
# bench/cli/run.sh - throughput of the tpipe command against cat, pv -q,
# mbuffer and buffer, all measured in the same run, as a Markdown table.
#
# Usage: bench/cli/run.sh [PATH/TO/tpipe]
# Environment:
#   SIZE=4G       bytes through each tool per run (k/M/G suffixes of 1024)
#   RUNS=5        runs per tool and scenario (median/min/max over them)
#   BUF=64M       buffer size given to mbuffer -m, buffer -m and tpipe -m
#   SCENARIOS="file-pipe pipe-pipe"   which set-ups to measure (file-null too)
#   WORKDIR=/tmp  where the generated input file is kept (SIZE bytes)
# Scenarios (the consumer always reads every byte, except in file-null):
#   file-pipe  tool < FILE | cat > /dev/null        (input in the page cache)
#   pipe-pipe  cat FILE | tool | cat > /dev/null    (a fast generator pipe)
#   file-null  tool < FILE > /dev/null               (no consumer at all;
#              not a fair race: tpipe maps the file and writing a mapping
#              to /dev/null never reads it)
# Installs pv, mbuffer and buffer with apt-get when they are missing.
set -euo pipefail

TPIPE=${1:-$(dirname "$0")/../../build/tools/tpipe}
SIZE=${SIZE:-4G}
RUNS=${RUNS:-5}
BUF=${BUF:-64M}
SCENARIOS=${SCENARIOS:-"file-pipe pipe-pipe"}
WORKDIR=${WORKDIR:-/tmp}

if [ ! -x "$TPIPE" ]; then
    echo "tpipe binary not found: $TPIPE (build it, or pass its path)" >&2
    exit 2
fi

missing=()
for tool in pv mbuffer buffer; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    if ! { apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
           { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }; }; then
        echo "could not install ${missing[*]}" >&2
        exit 2
    fi
fi

to_bytes() {
    local v=$1
    case $v in
        *[kK]) echo $(( ${v%?} * 1024 )) ;;
        *M) echo $(( ${v%?} * 1024 * 1024 )) ;;
        *G) echo $(( ${v%?} * 1024 * 1024 * 1024 )) ;;
        *) echo "$v" ;;
    esac
}
BYTES=$(to_bytes "$SIZE")
BUFBYTES=$(to_bytes "$BUF")

# Incompressible input, generated once and then read from the page cache:
# the tools are measured, not /dev/urandom.
INPUT=$WORKDIR/tpipe-bench-$BYTES.bin
if [ ! -f "$INPUT" ] || [ "$(stat -c %s "$INPUT")" != "$BYTES" ]; then
    echo "generating $INPUT ($SIZE)" >&2
    head -c "$BYTES" /dev/urandom > "$INPUT.tmp"
    mv "$INPUT.tmp" "$INPUT"
fi
cat "$INPUT" > /dev/null # warm the page cache

# The tools under test; each reads stdin and writes stdout.
declare -A CMD=(
    [cat]="cat"
    [pv]="pv -q"
    [mbuffer]="mbuffer -q -m $BUF"
    [buffer]="buffer -m $((BUFBYTES < 1073741824 ? BUFBYTES : 1073741824)) -s 131072"
    [tpipe]="$TPIPE -q -m $BUF"
    [tpipe-copy]="$TPIPE -q -m $BUF --no-zero-copy"
)
# tpipe-copy measures what the zero-copy paths (mmap, splice) are worth.
TOOLS="cat pv mbuffer buffer tpipe tpipe-copy"

run_once() { # scenario command -> seconds
    local scen=$1 cmd=$2 start end
    start=$(date +%s.%N)
    case $scen in
        file-pipe) $cmd < "$INPUT" | cat > /dev/null ;;
        pipe-pipe) cat "$INPUT" | $cmd | cat > /dev/null ;;
        file-null) $cmd < "$INPUT" > /dev/null ;;
    esac
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

stats() { # GB/s values on stdin -> "median min max"
    sort -g | awk '{v[NR]=$1} END {
        m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
        printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}

echo "# commands: ${CMD[*]}" | sed "s|$TPIPE|tpipe|g"
echo "# tpipe CLI benchmark: $SIZE per run, $RUNS runs, buffer $BUF, $(nproc) cores"
echo "# $(uname -r); pv $(pv --version | head -1 | awk '{print $2}'), mbuffer $(mbuffer -V 2>&1 | head -1 | awk '{print $3}')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for scen in $SCENARIOS; do
    declare -A RES=()
    # Interleave the tools run by run so a burst of load elsewhere on the
    # machine hits them all alike.
    declare -A SAMPLES=()
    for ((r = 1; r <= RUNS; r++)); do
        for t in $TOOLS; do
            s=$(run_once "$scen" "${CMD[$t]}")
            SAMPLES[$t]+="$(echo "$BYTES / $s / 1000000000" | bc -l) "
        done
    done
    echo
    echo "## $scen"
    echo
    echo "| tool | median GB/s | min | max | tpipe / tool (median) |"
    echo "|---|---:|---:|---:|---:|"
    for t in $TOOLS; do
        RES[$t]=$(tr ' ' '\n' <<< "${SAMPLES[$t]}" | grep . | stats)
    done
    tmed=$(cut -d' ' -f1 <<< "${RES[tpipe]}")
    for t in $TOOLS; do
        read -r med min max <<< "${RES[$t]}"
        ratio=$(echo "$tmed / $med" | bc -l)
        printf "| %s | %s | %s | %s | %.2fx |\n" "$t" "$med" "$min" "$max" "$ratio"
    done
    unset RES SAMPLES
done
echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
