#!/usr/bin/env bash
# Corpus benchmark: trailhound's scan against the decompression floor, in one run, alternating.
#
#   benches/corpus.sh [--runs N] [--big] [--threads N]
#
# Generates (once, cached under benches/corpora/) a ~1 GiB CloudTrail corpus, a ~500 MiB VPC
# flow corpus and a ~200 MiB resolver corpus with the corpus generator (seeded, so every machine
# gets the same bytes), then for each corpus runs, alternating, N times each:
#   trailhound scan --threads 2 --no-default-rules   (parse-only: every record validated and its
#                                                    core fields extracted)
#   libdeflate-gunzip, 2 processes                   (Debian libdeflate-tools)
#   gzip -dc, 2 processes
# and prints uncompressed MB/s (median run), peak RSS and the ratios. --big adds a 4 GiB
# CloudTrail corpus to check that throughput and peak RSS stay flat as the corpus grows, parse-only
# and with the bundled pack.
#
# Then, against what users run today: trailhound's full scan with the bundled pack, DuckDB with
# the shared rules of benches/shared-rules/ as SQL (benches/duckdb_rules.py, DuckDB installed with
# pip in .venv), and `zcat | jq` for one rule; per corpus, the full pack's speed against that
# corpus's libdeflate floor, and what 10x DuckDB would be against it (issue 6's targets). The
# number of matching records per shared rule must be the same in trailhound and DuckDB, or the
# script fails (a fast wrong answer must not pass). Corpora carry injected attacks (--attacks) so
# that the shared rules have something to count.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
BIG=0
THREADS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --big) BIG=1; shift ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if ! command -v libdeflate-gunzip >/dev/null; then
  echo "installing libdeflate-tools (for the decompression floor)" >&2
  (apt-get install -y libdeflate-tools >/dev/null 2>&1 || sudo apt-get install -y libdeflate-tools >/dev/null 2>&1) \
    || { echo "libdeflate-gunzip is needed: apt-get install libdeflate-tools" >&2; exit 2; }
fi

cargo build --release -q -p trailhound-cli
BIN=target/release/trailhound
CORPORA=benches/corpora
mkdir -p "$CORPORA"

gen() { # name kinds size
  local dir="$CORPORA/$1"
  if [ ! -f "$dir/manifest.json" ] || ! grep -q '"attacks": true' "$dir/manifest.json" || ! grep -q "\"size\": $(python3 -c "
import sys
s=sys.argv[1]; u={'GiB':1<<30,'MiB':1<<20}
print(int(s[:-3])*u[s[-3:]])" "$3")" "$dir/manifest.json"; then
    rm -rf "$dir"
    "$BIN" corpus generate --out "$dir" --kinds "$2" --size "$3" --seed 42 --object-size 8MiB --attacks >&2
  fi
}

CORPUS_LIST=("cloudtrail-1g cloudtrail 1GiB" "vpcflow-500m vpcflow 500MiB" "dns-200m dns 200MiB")
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import duckdb" 2>/dev/null; then
  python3 -m venv .venv && .venv/bin/pip install -q duckdb==2.0.1
fi
[ "$BIG" = 1 ] && CORPUS_LIST+=("cloudtrail-4g cloudtrail 4GiB")
for c in "${CORPUS_LIST[@]}"; do gen $c; done

TIMEFILE=$(mktemp)
measure() { # command... ; prints "seconds peak_kib" (peak RSS of the largest process)
  /usr/bin/time -o "$TIMEFILE" -f "%e %M" "$@" >/dev/null 2>/dev/null || true
  tail -1 "$TIMEFILE"
}

RESULTS=$(mktemp)
for c in "${CORPUS_LIST[@]}"; do
  set -- $c
  name=$1 dir="$CORPORA/$1"
  bytes=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report']['bytes_uncompressed'])" "$dir/manifest.json")
  find "$dir" -name '*.gz' | sort > "$dir.files"
  for i in $(seq "$RUNS"); do
    echo "$name trailhound $bytes $(measure "$BIN" scan "$dir" --threads "$THREADS" --no-default-rules -q)" >> "$RESULTS"
    echo "$name libdeflate-gunzip $bytes $(measure sh -c "xargs -P2 -n 16 sh -c 'for f; do libdeflate-gunzip -c \"\$f\"; done' _ < '$dir.files'")" >> "$RESULTS"
    echo "$name gzip-dc $bytes $(measure sh -c "xargs -P2 -n 16 gzip -dc < '$dir.files'")" >> "$RESULTS"
  done
done

# Detection cost on the CloudTrail corpus: parse-only vs one rule vs the bundled pack vs 1,000
# synthetic rules (benches/gen_rules.py), alternating, same runs count.
RULES1000="$CORPORA/rules-1000"
[ -d "$RULES1000" ] || python3 benches/gen_rules.py "$RULES1000" 1000
ONE_RULE=$(mktemp -d)
cp rules/cloudtrail/stealth/th-ct-0001_cloudtrail_logging_disabled.yml "$ONE_RULE/"
DET=$(mktemp)
CT="$CORPORA/cloudtrail-1g"
CTBYTES=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report']['bytes_uncompressed'])" "$CT/manifest.json")
for i in $(seq "$RUNS"); do
  echo "parse-only $CTBYTES $(measure "$BIN" scan "$CT" --threads "$THREADS" --no-default-rules -q -o /dev/null)" >> "$DET"
  echo "one-rule $CTBYTES $(measure "$BIN" scan "$CT" --threads "$THREADS" --no-default-rules --rules "$ONE_RULE" -q -o /dev/null)" >> "$DET"
  echo "bundled-pack $CTBYTES $(measure "$BIN" scan "$CT" --threads "$THREADS" -q -o /dev/null)" >> "$DET"
  echo "1000-synthetic $CTBYTES $(measure "$BIN" scan "$CT" --threads "$THREADS" --no-default-rules --rules "$RULES1000" -q -o /dev/null)" >> "$DET"
done
rm -rf "$ONE_RULE"

python3 - "$DET" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, b, secs, kib = line.split()
    rows[name].append((float(secs), int(kib), int(b)))
base = statistics.median(x[0] for x in rows["parse-only"])
one = statistics.median(x[0] for x in rows["one-rule"])
print()
print(f"{'cloudtrail-1g rules':<20} {'MB/s':>8} {'peak RSS':>10} {'vs parse-only':>14} {'vs one rule':>12}")
for name in ["parse-only", "one-rule", "bundled-pack", "1000-synthetic"]:
    v = rows[name]
    secs = statistics.median(x[0] for x in v)
    print(f"{name:<20} {v[0][2]/1e6/secs:8.0f} {max(x[1] for x in v)/1024:8.1f} MiB {base/secs:13.2f}x {one/secs:11.2f}x")
PY
rm -f "$DET"

FLOOR=$(mktemp)
python3 - "$RESULTS" "$THREADS" "$FLOOR" <<'PY'
import sys, statistics, collections, platform, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, tool, b, secs, kib = line.split()
    rows[(name, tool)].append((float(secs), int(kib), int(b)))
print(f"machine: {platform.machine()}, {os.cpu_count()} cores; trailhound threads: {sys.argv[2]}; median of {len(next(iter(rows.values())))} alternating runs")
print(f"{'corpus':<15} {'tool':<19} {'MB/s':>8} {'peak RSS':>10} {'vs libdeflate':>14} {'vs gzip -dc':>12}")
speed = {}
for (name, tool), v in rows.items():
    secs = statistics.median(x[0] for x in v)
    speed[(name, tool)] = (v[0][2] / 1e6 / secs, max(x[1] for x in v))
for name in dict.fromkeys(n for n, _ in rows):
    for tool in ["trailhound", "libdeflate-gunzip", "gzip-dc"]:
        mbs, rss = speed[(name, tool)]
        r1 = mbs / speed[(name, "libdeflate-gunzip")][0]
        r2 = mbs / speed[(name, "gzip-dc")][0]
        print(f"{name:<15} {tool:<19} {mbs:8.0f} {rss/1024:8.1f} MiB {r1:13.2f}x {r2:11.2f}x")
with open(sys.argv[3], "w") as out:
    for (name, tool), (mbs, _) in speed.items():
        if tool == "libdeflate-gunzip":
            print(name, mbs, file=out)
if ("cloudtrail-4g", "trailhound") in speed:
    a, b = speed[("cloudtrail-1g", "trailhound")], speed[("cloudtrail-4g", "trailhound")]
    print(f"4 GiB vs 1 GiB: throughput {b[0]/a[0]:.2f}x, peak RSS {b[1]/a[1]:.2f}x")
PY
rm -f "$RESULTS"

# Memory flat as the corpus grows, with the bundled pack (whose correlations and first_seen
# histories are what could grow): 1 GiB vs 4 GiB CloudTrail, alternating.
if [ "$BIG" = 1 ]; then
  GROW=$(mktemp)
  for i in $(seq "$RUNS"); do
    for c in cloudtrail-1g cloudtrail-4g; do
      b=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report']['bytes_uncompressed'])" "$CORPORA/$c/manifest.json")
      echo "$c $b $(measure "$BIN" scan "$CORPORA/$c" --threads "$THREADS" -q -o /dev/null)" >> "$GROW"
    done
  done
  python3 - "$GROW" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, b, secs, kib = line.split()
    rows[name].append((float(secs), int(kib), int(b)))
print()
print(f"{'full pack':<15} {'MB/s':>8} {'peak RSS':>10}")
speed = {}
for name, v in rows.items():
    secs = statistics.median(x[0] for x in v)
    speed[name] = (v[0][2] / 1e6 / secs, max(x[1] for x in v))
    print(f"{name:<15} {speed[name][0]:8.0f} {speed[name][1]/1024:8.1f} MiB")
a, b = speed["cloudtrail-1g"], speed["cloudtrail-4g"]
print(f"full pack, 4 GiB vs 1 GiB: throughput {b[0]/a[0]:.2f}x, peak RSS {b[1]/a[1]:.2f}x")
PY
  rm -f "$GROW"
fi

# trailhound vs DuckDB vs jq, alternating, same runs count; the shared rules' counts compared.
PEERS=$(mktemp)
for spec in "cloudtrail-1g cloudtrail" "vpcflow-500m vpcflow" "dns-200m dns"; do
  set -- $spec
  name=$1 kind=$2 dir="$CORPORA/$1"
  bytes=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['report']['bytes_uncompressed'])" "$dir/manifest.json")
  for i in $(seq "$RUNS"); do
    echo "$name trailhound-full-pack $bytes $(measure "$BIN" scan "$dir" --threads "$THREADS" -q -o /dev/null)" >> "$PEERS"
    echo "$name duckdb-sql $bytes $(measure .venv/bin/python benches/duckdb_rules.py "$kind" "$dir" --threads "$THREADS")" >> "$PEERS"
    if [ "$kind" = cloudtrail ]; then
      echo "$name jq-one-rule $bytes $(measure .venv/bin/python benches/duckdb_rules.py jq "$dir")" >> "$PEERS"
    fi
  done
  "$BIN" scan "$dir" --threads "$THREADS" --no-default-rules --rules benches/shared-rules -q -o "$CORPORA/$name.shared.jsonl" || true
  .venv/bin/python benches/duckdb_rules.py "$kind" "$dir" --threads "$THREADS" > "$CORPORA/$name.duckdb.json"
done
python3 - "$PEERS" "$CORPORA" "$FLOOR" <<'PY'
import sys, statistics, collections, json, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, tool, b, secs, kib = line.split()
    rows[(name, tool)].append((float(secs), int(kib), int(b)))
floor = {n: float(m) for n, m in (l.split() for l in open(sys.argv[3]))}
print()
print(f"{'corpus':<15} {'tool':<22} {'MB/s':>8} {'peak RSS':>10} {'trailhound vs it':>17}")
bad = 0
for name in dict.fromkeys(n for n, _ in rows):
    th = statistics.median(x[0] for x in rows[(name, "trailhound-full-pack")])
    for tool in ["trailhound-full-pack", "duckdb-sql", "jq-one-rule"]:
        v = rows.get((name, tool))
        if not v:
            continue
        secs = statistics.median(x[0] for x in v)
        print(f"{name:<15} {tool:<22} {v[0][2]/1e6/secs:8.0f} {max(x[1] for x in v)/1024:8.1f} MiB {secs/th:16.2f}x")
    # Issue 6's ratios against this corpus's own decompression floor (2-process libdeflate).
    if name in floor and (name, "duckdb-sql") in rows:
        v = rows[(name, "trailhound-full-pack")]
        full = v[0][2] / 1e6 / th
        duck = v[0][2] / 1e6 / statistics.median(x[0] for x in rows[(name, "duckdb-sql")])
        print(f"  full pack vs the libdeflate floor ({floor[name]:.0f} MB/s): {full / floor[name]:.2f}x; "
              f"10x DuckDB would be {10 * duck:.0f} MB/s = {10 * duck / floor[name]:.2f}x the floor")
    got = collections.Counter()
    for l in open(os.path.join(sys.argv[2], name + ".shared.jsonl")):
        f = json.loads(l)
        got[f["rule_id"].removeprefix("bench-")] += f["count"]
    want = json.load(open(os.path.join(sys.argv[2], name + ".duckdb.json")))
    for rule, n in sorted(want["counts"].items()):
        ok = got.get(rule, 0) == n
        bad += not ok
        print(f"  {rule}: trailhound {got.get(rule, 0)}, DuckDB {n} {'ok' if ok else 'DISAGREE'}")
    for g, n in want.get("groups", {}).items():
        print(f"  {g} (SQL approximation, not compared): {n} groups")
sys.exit(1 if bad else 0)
PY
rm -f "$PEERS" "$FLOOR"
