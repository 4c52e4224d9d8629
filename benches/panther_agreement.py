#!/usr/bin/env python3
"""Peer agreement with Panther's labelled CloudTrail rule tests (measurement, not a test).

   benches/panther_agreement.py [TRAILHOUND_BIN]

Each test event of ../shared/data/public/panther-analysis-tests/tests.jsonl is scanned alone with
the bundled pack. For each Panther rule: a positive agrees when it gets a finding; a negative
agrees when it gets none of the finding types the rule's positives got. Prints per-rule and
overall agreement.
"""
import collections, json, os, subprocess, sys, tempfile

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/trailhound"
rows = [json.loads(l) for l in open("../shared/data/public/panther-analysis-tests/tests.jsonl")]
types = []
with tempfile.TemporaryDirectory() as d:
    for i, r in enumerate(rows):
        log = dict(r["log"])
        log.setdefault("eventTime", "2024-01-01T00:00:00Z")
        p = os.path.join(d, f"t{i}.json")
        json.dump(log, open(p, "w"))
        out = subprocess.run([binary, "scan", "-q", p], capture_output=True, text=True).stdout
        types.append({json.loads(l)["type"] for l in out.splitlines() if l.strip()})
by_rule = collections.defaultdict(list)
for r, t in zip(rows, types):
    by_rule[r["rule_id"]].append((r["expected"], t))
agree = total = 0
per = []
for rule, tests in sorted(by_rule.items()):
    pos_types = set().union(*[t for e, t in tests if e]) if any(e for e, _ in tests) else set()
    ok = sum((bool(t) if e else not (t & pos_types)) for e, t in tests)
    per.append((ok / len(tests), rule, ok, len(tests), sorted(pos_types)))
    agree += ok
    total += len(tests)
print(f"overall agreement: {agree}/{total} = {agree / total:.1%} over {len(by_rule)} Panther rules")
for frac, rule, ok, n, pt in sorted(per):
    if frac < 1:
        print(f"  {frac:5.0%} {rule} ({ok}/{n}) types={pt}")
