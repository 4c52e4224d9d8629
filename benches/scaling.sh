#!/usr/bin/env bash
# Scaling curves for docs/PERFORMANCE.md: trailhound's full scan (bundled pack) against
#   - threads: 1 and 2, on each bench corpus (benches/corpora/, made by benches/corpus.sh);
#   - corpus size: 256 MiB, 1 GiB (and 4 GiB with --big) of CloudTrail, same seed;
#   - object size: 256 MiB of CloudTrail as ~10 KiB objects and as ~100 MiB objects.
# Every configuration runs N times (default 3), alternating; the table gives the median time as
# uncompressed MB/s, the largest peak RSS, and each row's speed relative to the first row of its
# group (ratios within one run: these machines are shared and noisy).
#
#   benches/scaling.sh [--runs N] [--big]
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
BIG=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --big) BIG=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p trailhound-cli
BIN=target/release/trailhound
CORPORA=benches/corpora
mkdir -p "$CORPORA"

gen() { # name size object-size
  local dir="$CORPORA/$1"
  [ -f "$dir/manifest.json" ] && return 0
  rm -rf "$dir"
  "$BIN" corpus generate --out "$dir" --kinds cloudtrail --size "$2" --seed 42 --object-size "$3" --attacks >&2
}
for c in cloudtrail-1g vpcflow-500m dns-200m; do
  [ -f "$CORPORA/$c/manifest.json" ] || { echo "run benches/corpus.sh first (it makes $c)" >&2; exit 2; }
done
gen cloudtrail-256m 256MiB 8MiB
gen cloudtrail-256m-10k 256MiB 10KiB
gen cloudtrail-256m-100m 256MiB 100MiB
[ "$BIG" = 1 ] && gen cloudtrail-4g 4GiB 8MiB

# group label corpus threads
CONFIGS=(
  "threads cloudtrail-1g 1" "threads cloudtrail-1g 2"
  "threads vpcflow-500m 1" "threads vpcflow-500m 2"
  "threads dns-200m 1" "threads dns-200m 2"
  "size cloudtrail-256m 2" "size cloudtrail-1g 2"
  "objects cloudtrail-256m-10k 2" "objects cloudtrail-256m 2" "objects cloudtrail-256m-100m 2"
)
[ "$BIG" = 1 ] && CONFIGS+=("size cloudtrail-4g 2")

OUT=$(mktemp)
TIMEFILE=$(mktemp)
for i in $(seq "$RUNS"); do
  for c in "${CONFIGS[@]}"; do
    set -- $c
    /usr/bin/time -o "$TIMEFILE" -f "%e %M" "$BIN" scan "$CORPORA/$2" --threads "$3" -q -o /dev/null \
      >/dev/null 2>/dev/null || true
    bytes=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report']['bytes_uncompressed'])" "$CORPORA/$2/manifest.json")
    objects=$(find "$CORPORA/$2" -name '*.gz' | wc -l)
    echo "$1 $2 $3 $bytes $objects $(tail -1 "$TIMEFILE")" >> "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    group, corpus, threads, b, objs, secs, kib = line.split()
    rows.setdefault((group, corpus, threads), []).append((float(secs), int(kib), int(b), int(objs)))
print(f"{'group':<8} {'corpus':<22} {'threads':>7} {'objects':>8} {'MB/s':>7} {'peak RSS':>10} {'vs first':>9}")
first = {}
for (group, corpus, threads), v in rows.items():
    secs = statistics.median(x[0] for x in v)
    mbs = v[0][2] / 1e6 / secs
    base = first.setdefault((group, corpus) if group == "threads" else group, mbs)
    print(f"{group:<8} {corpus:<22} {threads:>7} {v[0][3]:>8} {mbs:7.0f} {max(x[1] for x in v)/1024:8.1f} MiB {mbs/base:8.2f}x")
PY
rm -f "$OUT" "$TIMEFILE"
