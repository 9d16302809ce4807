#!/usr/bin/env bash
# ab.sh - compares two builds of libtpipe on this machine, fairly: runs of
# the two alternate, so a change in machine load hits both alike (on a
# shared VM, figures can halve between one minute and the next).
#
#   bench/ab.sh [--rounds=N] DIR_A DIR_B [tpbench options]
#
# DIR_A and DIR_B each hold a libtpipe.so.0 (for example two build trees,
# one per commit). tpbench comes from $TPBENCH (default
# build/release/bench/tpbench) and must be linked against the shared
# library; each run loads one of the two through LD_LIBRARY_PATH. Prints,
# per figure, tpipe's value in every round for A, then for B.
# Example: bench/ab.sh /tmp/old /tmp/new --workload=small,zerocopy
set -euo pipefail

rounds=5
if [[ ${1:-} == --rounds=* ]]; then
    rounds=${1#--rounds=}
    shift
fi
if (($# < 2)); then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
a=$1 b=$2
shift 2
tpbench=${TPBENCH:-build/release/bench/tpbench}
for dir in "$a" "$b"; do
    [[ -e $dir/libtpipe.so.0 ]] || { echo "ab.sh: no libtpipe.so.0 in $dir" >&2; exit 2; }
done
[[ -x $tpbench ]] || { echo "ab.sh: no tpbench at $tpbench (set TPBENCH)" >&2; exit 2; }

# One run: "label|workload case metric|value" for each tpipe figure. The
# first row of a figure names workload, case and metric; tpipe's row may
# be that row or a continuation row.
one_run() {
    LD_LIBRARY_PATH=$2 "$tpbench" --transport=tpipe --runs=1 --quiet "${@:3}" 2>/dev/null |
        awk -v label="$1" '
            /^-+$/ { table = !table; next }
            !table || NF == 0 { next }
            /^[a-z]/ && NF >= 6 && $(NF - 3) != "" {
                # workload, case and metric are fixed-width columns
                key = substr($0, 1, 42); gsub(/ +/, " ", key); sub(/ $/, "", key)
            }
            $0 ~ /^ *[a-z]/ && index($0, " tpipe ") { print label "|" key "|" $(NF - 2) }'
}

for ((i = 1; i <= rounds; i++)); do
    one_run A "$a" "$@"
    one_run B "$b" "$@"
done | awk -F'|' '
    { if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
      vals[$1 "|" $2] = vals[$1 "|" $2] " " $3 }
    END { for (i = 1; i <= n; i++) {
              printf "%s\n  A:%s\n  B:%s\n", order[i], vals["A|" order[i]], vals["B|" order[i]] } }'
