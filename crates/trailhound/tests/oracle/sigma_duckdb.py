#!/usr/bin/env python3
"""Independent Sigma oracle: pySigma's DuckDB backend over the public CloudTrail samples.

   sigma_duckdb.py RULES_DIR OUT_JSON CLOUDTRAIL_FILE...

Each CloudTrail record is flattened into one row of a DuckDB table `logs` whose columns are the
dotted field paths (`userIdentity.arn`); values are text, as Sigma compares them. Each rule is
converted to SQL by pySigma and run; the output maps rule id -> sorted matching eventIDs, plus
the rules pySigma could not convert.
"""
import json
import sys

import duckdb
from sigma.collection import SigmaCollection
from sigma_backend_duckdb import DuckDBBackend


def records(path):
    text = open(path, encoding="utf-8").read().strip()
    if text.startswith("["):
        return json.loads(text)
    try:
        d = json.loads(text)
        return d["Records"] if "Records" in d else [d]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def flatten(prefix, v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            flatten(f"{prefix}.{k}" if prefix else k, x, out)
    elif isinstance(v, list):
        out[prefix] = json.dumps(v)
    elif v is None:
        out[prefix] = None
    elif isinstance(v, bool):
        out[prefix] = "true" if v else "false"
    else:
        out[prefix] = str(v)


def main():
    rules_dir, out_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = []
    for f in files:
        for r in records(f):
            flat = {}
            flatten("", r, flat)
            rows.append(flat)
    import glob
    rules = sorted(glob.glob(f"{rules_dir}/*.yml"))
    backend = DuckDBBackend()
    queries, failed = {}, {}
    fields = set()
    for path in rules:
        coll = SigmaCollection.from_yaml(open(path, encoding="utf-8").read())
        rid = str(coll.rules[0].id)
        try:
            q = backend.convert(coll)
            queries[rid] = q[0] if isinstance(q, list) else q
        except Exception as e:  # noqa: BLE001 - the oracle reports, never hides
            failed[rid] = str(e)[:200]
        for det in coll.rules[0].detection.detections.values():
            stack = [det]
            while stack:
                d = stack.pop()
                stack.extend(getattr(d, "detection_items", []))
                if getattr(d, "field", None):
                    fields.add(d.field)
                for v in getattr(d, "value", []) or []:
                    if hasattr(v, "field"):  # fieldref
                        fields.add(v.field)
    # DuckDB column names are case-insensitive: keys differing only in case share a column.
    canon = {}
    # Only the columns the rules read (and eventID) are loaded: the table stays narrow.
    for name in sorted(fields | {"eventID"}):
        canon.setdefault(name.lower(), name)
    rows = [{canon[k.lower()]: v for k, v in r.items() if k.lower() in canon} for r in rows]
    cols = sorted(canon.values())
    con = duckdb.connect()
    con.execute("CREATE TABLE logs (" + ", ".join(f'"{c}" VARCHAR' for c in cols) + ")")
    con.executemany(
        "INSERT INTO logs VALUES (" + ", ".join("?" for _ in cols) + ")",
        [[r.get(c) for c in cols] for r in rows],
    )
    result = {"matches": {}, "unconverted": failed, "errors": {}}
    for rid, q in queries.items():
        try:
            ids = sorted({row[0] for row in con.execute(q.replace("SELECT *", 'SELECT "eventID"', 1)).fetchall() if row[0]})
            result["matches"][rid] = ids
        except Exception as e:  # noqa: BLE001
            result["errors"][rid] = f"{e} :: {q}"[:400]
    json.dump(result, open(out_path, "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
