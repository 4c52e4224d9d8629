#!/usr/bin/env python3
"""Writes N synthetic CloudTrail rules (a realistic mix) into a folder, for the rule-count benchmark.

   benches/gen_rules.py OUT_DIR [N]

Mix, like a real pack that is quiet on ordinary activity: 50% eventSource + eventName (1-4 names)
with one narrowing test (root caller, access denied, a CIDR, an ARN suffix), 20% eventName +
userAgent substrings (one aho-corasick), 15% eventName + an ARN regex, 15% eventName + a
requestParameters wildcard and a `not` filter. Names come from the corpus generator's API
catalogue, so every rule meets real records. Deterministic.
"""
import os, random, sys, re

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
src = open(os.path.join(os.path.dirname(__file__), "..", "crates/trailhound-corpus/src/cloudtrail.rs")).read()
apis = []
for svc, names in re.findall(r'\(\s*"([a-z0-9]+)",\s*&\[(.*?)\]', src, re.S):
    for nm in re.findall(r'"([A-Za-z0-9]+)"', names):
        apis.append((svc, nm))
rnd = random.Random(7)
os.makedirs(out, exist_ok=True)
for i in range(n):
    kind = rnd.random()
    svc, name = rnd.choice(apis)
    names = sorted({name} | {rnd.choice(apis)[1] for _ in range(rnd.randint(0, 3))})
    extra = rnd.choice([
        "    userIdentity.type: Root\n",
        "    errorCode: [AccessDenied, Client.UnauthorizedOperation]\n",
        "    sourceIPAddress|cidr: ['198.51.100.0/24', '192.0.2.0/24']\n",
        "    userIdentity.arn|endswith: ':user/break-glass-%d'\n" % i,
    ])
    if kind < 0.5:
        det = f"  selection:\n    eventSource: {svc}.amazonaws.com\n    eventName: [{', '.join(names)}]\n{extra}  condition: selection\n"
    elif kind < 0.7:
        det = f"  selection:\n    eventName: [{', '.join(names)}]\n    userAgent|contains: ['{rnd.choice(['kali', 'parrot', 'pentoo', 'python-requests', 'curl/', 'Go-http-client'])}', 'zz{i}']\n  condition: selection\n"
    elif kind < 0.85:
        det = f"  selection:\n    eventName: {name}\n    userIdentity.arn|re: '.*:(user|assumed-role)/(breakglass|x{i})/.*'\n  condition: selection\n"
    else:
        det = f"  selection:\n    eventName: {name}\n    requestParameters.roleName: '*admin*{i}*'\n  filter:\n    errorCode|exists: true\n  condition: selection and not filter\n"
    with open(os.path.join(out, f"synthetic_{i:04d}.yml"), "w") as f:
        f.write(f"title: Synthetic rule {i}\nid: synthetic-{i:04d}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{det}level: low\n")
