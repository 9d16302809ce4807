#!/bin/sh
# run_fuzz.sh - fuzzes for SECONDS seconds starting from the committed corpus
# (read-only: new inputs go to a scratch directory) and prints the totals.
# Usage: run_fuzz.sh FUZZER CORPUS_DIR [SECONDS] [extra libFuzzer flags...]
set -u
fuzzer=$1; corpus=$2; seconds=${3:-120}
shift 2; [ $# -gt 0 ] && shift
work=$(mktemp -d "${TMPDIR:-/tmp}/tpipe-fuzz.XXXXXX")
# -print_final_stats prints stat::number_of_executed_units at the end.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work" "$corpus"
rc=$?
if [ $rc -ne 0 ]; then
    echo "run_fuzz: divergence or crash; reproducers kept in $work:" >&2
    ls "$work" | grep -E '^(crash|leak|timeout|oom)-' >&2
    exit $rc
fi
rm -rf "$work"
