#!/usr/bin/env bash
# Output benchmark: what writing findings costs, as a share of the scan that produced them
# (issue 5: "under 5 % of a scan that produces 100,000 findings").
#
#   benches/output-cost.sh [--runs N] [--out-dir DIR] [--formats jsonl,table,...]
#
# Generates (once, cached under benches/corpora/) the 300 MiB mixed corpus with injected attacks
# (CloudTrail, flow and resolver logs, seed 7), then scans it with the bundled pack plus
# benches/output-rules/every-read.yml (every read call its own finding: ~98,000 findings) once per
# format, formats alternating, N rounds (default 3). Each run writes a fresh file in DIR (default
# /dev/shm when it exists, else the system temporary folder; pass a folder on a disk to include
# its fsync) and reads the scan's own figures from its stderr summary: the write time (from the
# findings being ready to the file being renamed into place) and that time's share of the scan.
# Prints, per format, the output's size, and the median and range of both; for the one-file
# formats also the floor under them: as many bytes written from a 2 MiB buffer into one fresh
# file by one thread (a file's writes run one at a time), and by two threads writing a half each
# at their own offsets, each as a share of the same run's scan.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
OUT=""
FORMATS="jsonl,table,parquet,ocsf-parquet,asff,asff-batches"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --out-dir) OUT="$2"; shift 2 ;;
    --formats) FORMATS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$OUT" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then OUT=/dev/shm; else OUT="${TMPDIR:-/tmp}"; fi
fi
OUT=$(mktemp -d "$OUT/trailhound-output-cost.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

cargo build --release -q -p trailhound-cli
BIN=target/release/trailhound
CORPUS=benches/corpora/mixed-300m
if [ ! -f "$CORPUS/manifest.json" ]; then
  rm -rf "$CORPUS"
  "$BIN" corpus generate --out "$CORPUS" --kinds cloudtrail,vpcflow,dns --size 300MiB --seed 7 --attacks >&2
fi

RESULTS=$(mktemp)
trap 'rm -rf "$OUT" "$RESULTS"' EXIT
for i in $(seq "$RUNS"); do
  for f in ${FORMATS//,/ }; do
    target="$OUT/findings.$f"
    rm -rf "$target"
    line=$("$BIN" scan "$CORPUS" --threads 2 --rules benches/output-rules/every-read.yml \
      --format "$f" -o "$target" 2>&1 >/dev/null | grep '^  output:') \
      || { echo "scan with --format $f failed or printed no output line" >&2; exit 1; }
    bytes=$(du -sb "$target" | cut -f1)
    # The floor under a one-file output: as many bytes written from memory into one fresh file
    # in the same folder (2 MiB writes, one thread: writes to one file run one at a time); and
    # the same bytes written by two threads, each its half at its own offsets (os.pwrite lets go
    # of the interpreter's lock), to show whether a second writer would lower that floor.
    floor=$(python3 - "$target" "$OUT/floor.tmp" <<'PY'
import os, sys, threading, time
src, dst = sys.argv[1], sys.argv[2]
if not os.path.isfile(src):
    print("- -")
    sys.exit()
# As many bytes as the output, from one 2 MiB buffer in the cache, as the writers' chunk buffers
# are when they are written.
total = os.path.getsize(src)
with open(src, "rb") as f:
    chunk = f.read(1 << 21)
step = len(chunk) or 1

def one():
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for at in range(0, total, step):
        os.write(fd, chunk[: total - at])
    return fd

def two():
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    half = (total // 2) // step * step
    def part(lo, hi):
        for at in range(lo, hi, step):
            os.pwrite(fd, chunk[: min(step, hi - at)], at)
    ts = [threading.Thread(target=part, args=r) for r in ((0, half), (half, total))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return fd

took = []
for write in (one, two):
    start = time.perf_counter()
    fd = write()
    os.fsync(fd)
    os.close(fd)
    took.append(time.perf_counter() - start)
    if os.path.getsize(dst) != total:
        sys.exit(f"the floor file has {os.path.getsize(dst)} bytes, not {total}")
    os.unlink(dst)
print(" ".join(f"{t:.4f}" for t in took))
PY
)
    # "  output: 98242 findings as Jsonl in 0.085 s (4.8 % of the scan)"
    echo "$f $bytes $(echo "$line" | sed -E 's/.*output: ([0-9]+) findings as [A-Za-z]+ in ([0-9.]+) s \(([0-9.]+) % of the scan\).*/\1 \2 \3/') $floor" >> "$RESULTS"
  done
done

python3 - "$RESULTS" "$RUNS" "$OUT" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    fmt, b, n, secs, share, floor, floor2 = line.split()
    secs, share = float(secs), float(share)
    # The floors' share of the same run's scan (the scan's time is the write's over its share).
    def of_scan(f):
        return None if f == "-" or share <= 0 else 100 * float(f) / (secs * 100 / share)
    rows[fmt].append((int(b), int(n), secs, share, of_scan(floor), of_scan(floor2)))
print(f"output cost: {sys.argv[2]} alternating rounds, fresh files in {sys.argv[3].rsplit('/', 1)[0]}")
print(f"{'format':<14} {'findings':>9} {'MB':>7} {'write s (median, range)':>26} "
      f"{'% of scan (median, range)':>28} {'one-file floor %':>17} {'two writers %':>14}")
over = []
for fmt, v in rows.items():
    secs = [x[2] for x in v]
    share = [x[3] for x in v]
    med = statistics.median(share)
    if med >= 5.0:
        over.append(fmt)
    def col(i, width):
        fs = [x[i] for x in v if x[i] is not None]
        return f"{statistics.median(fs):>{width}.1f}" if fs else f"{'-':>{width}}"
    print(f"{fmt:<14} {v[0][1]:>9} {v[0][0]/1e6:>7.1f} "
          f"{statistics.median(secs):>9.3f} ({min(secs):.3f}-{max(secs):.3f}) "
          f"{med:>12.1f} ({min(share):.1f}-{max(share):.1f}) {col(4, 10)} {col(5, 14)}")
print("at or over 5 %: " + (", ".join(over) if over else "none"))
print("one-file floor: as many bytes as the output written from a 2 MiB buffer into one fresh file")
print("in the same folder by one thread (fsync included), as a share of the same run's scan;")
print("two writers: the same bytes written into one file by two threads, a half each")
PY
