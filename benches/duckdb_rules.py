#!/usr/bin/env python3
"""What a user would run instead of trailhound: the same detections as DuckDB SQL over the raw
S3-exported files (read_json / read_csv straight from the .gz objects), and `jq` for one rule.

   benches/duckdb_rules.py KIND CORPUS_DIR [--threads N]    KIND: cloudtrail | vpcflow | dns
   benches/duckdb_rules.py jq CORPUS_DIR                   (CloudTrail, one rule)

Prints one JSON object: {"seconds": …, "counts": {rule id: matching records}, "groups": {…}}.
The stateless rules are those of benches/shared-rules/ (the harness runs trailhound with the same
files and checks that both count the same records); the correlations (port scan, SSH brute
force, DNS exfiltration) are the closest SQL can get to trailhound's windows and are reported,
not compared. Every rule of a kind is one pass over the data (`count(*) FILTER (…)`), as a user
who knows SQL would write it.
"""
import json, os, subprocess, sys, time

kind, corpus = sys.argv[1], sys.argv[2]
threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2


def sql_list(paths):
    return "[" + ", ".join("'" + x.replace("'", "''") + "'" for x in paths) + "]"


def files(suffix, part=""):
    """The corpus's objects of one kind, told apart by their S3 key as AWS writes them."""
    out = []
    for root, _, names in os.walk(corpus):
        out += [os.path.join(root, n) for n in names if n.endswith(suffix) and part in os.path.join(root, n)]
    return sorted(out)


if kind == "jq":
    # One rule (ct-01) with zcat | jq, one process per file, two at a time.
    t = time.time()
    cmd = ("xargs -P2 -n 8 sh -c 'for f; do gzip -dc \"$f\" | jq -c \".Records[] | select(.eventSource == "
           "\\\"cloudtrail.amazonaws.com\\\" and (.eventName == \\\"StopLogging\\\" or .eventName == "
           "\\\"DeleteTrail\\\" or .eventName == \\\"UpdateTrail\\\")) | .eventID\"; done' _")
    p = subprocess.run(["sh", "-c", cmd], input="\n".join(files(".json.gz")), capture_output=True, text=True)
    print(json.dumps({"seconds": time.time() - t, "counts": {"ct-01": len(p.stdout.split())}}))
    sys.exit(0)

import duckdb

con = duckdb.connect()
con.execute(f"SET threads = {threads}")
t = time.time()
counts, groups = {}, {}

if kind == "cloudtrail":
    paths = files(".json.gz")
    # The record type names only the fields the rules read (what DuckDB's docs advise for
    # speed); additionalEventData stays JSON because its members vary by event.
    record = ("STRUCT(eventSource VARCHAR, eventName VARCHAR, errorCode VARCHAR, userAgent VARCHAR, "
              "userIdentity STRUCT(\"type\" VARCHAR), additionalEventData JSON)")
    con.execute(
        f"CREATE VIEW ct AS SELECT unnest(Records) AS r FROM read_json({sql_list(paths)}, "
        f"columns = {{'Records': '{record}[]'}}, compression = 'gzip', format = 'unstructured', "
        "maximum_object_size = 1073741824)"
    )
    s = lambda f: f"lower(r.{f})"
    rules = {
        "ct-01": f"{s('eventSource')} = 'cloudtrail.amazonaws.com' AND {s('eventName')} IN ('stoplogging', 'deletetrail', 'updatetrail')",
        "ct-02": f"{s('eventName')} = 'consolelogin' AND lower(r.additionalEventData->>'MFAUsed') = 'no'",
        "ct-03": "lower(r.userIdentity.type) = 'root'",
        "ct-04": f"{s('errorCode')} IN ('accessdenied', 'client.unauthorizedoperation')",
        "ct-05": f"{s('eventSource')} = 'iam.amazonaws.com' AND {s('eventName')} IN ('createaccesskey', 'createloginprofile', 'updateloginprofile')",
        "ct-06": f"{s('eventSource')} = 'guardduty.amazonaws.com' AND {s('eventName')} IN ('deletedetector', 'updatedetector', 'createipset')",
        "ct-07": f"{s('eventName')} IN ('putbucketpolicy', 'putbucketacl', 'deletebucketpolicy')",
        "ct-08": f"{s('eventName')} = 'authorizesecuritygroupingress'",
        "ct-09": f"{s('eventSource')} = 'kms.amazonaws.com' AND {s('eventName')} IN ('schedulekeydeletion', 'disablekey')",
        "ct-10": f"starts_with({s('eventName')}, 'list') AND contains({s('userAgent')}, 'boto3')",
    }
    sql = "SELECT " + ", ".join(f"count(*) FILTER (WHERE {w}) AS \"{k}\"" for k, w in rules.items()) + " FROM ct"
    counts = dict(zip(rules, con.execute(sql).fetchone()))
elif kind == "vpcflow":
    paths = files(".log.gz", "/vpcflowlogs/")
    # Flow logs keep one format per log; files differ in columns (v2 default, v5 custom), so the
    # reader unions them by header name. NODATA/SKIPDATA lines have '-' everywhere.
    con.execute(
        f"CREATE VIEW flow AS SELECT * FROM read_csv({sql_list(paths)}, delim = ' ', header = true, union_by_name = true, "
        "all_varchar = true, compression = 'gzip')"
    )
    counts["fl-01"] = con.execute(
        "SELECT count(*) FROM flow WHERE dstport IN ('22', '3389') AND upper(action) = 'REJECT'"
    ).fetchone()[0]
    # Port scan: a source reaching 25+ distinct ports of one destination, rejected, in an hour.
    groups["portscan"] = con.execute(
        "SELECT count(*) FROM (SELECT srcaddr, dstaddr, CAST(start AS BIGINT) // 3600 AS h FROM flow "
        "WHERE action = 'REJECT' GROUP BY ALL HAVING count(DISTINCT dstport) >= 25)"
    ).fetchone()[0]
    # SSH brute force: 20+ connection attempts from one source to port 22 of one host in an hour.
    groups["ssh-brute-force"] = con.execute(
        "SELECT count(*) FROM (SELECT srcaddr, dstaddr, CAST(start AS BIGINT) // 3600 AS h FROM flow "
        "WHERE dstport = '22' GROUP BY ALL HAVING count(*) >= 20)"
    ).fetchone()[0]
elif kind == "dns":
    paths = files(".log.gz", "/vpcdnsquerylogs/")
    con.execute(
        f"CREATE VIEW q AS SELECT * FROM read_json({sql_list(paths)}, format = 'newline_delimited', compression = 'gzip', "
        "columns = {'query_name': 'VARCHAR', 'rcode': 'VARCHAR', 'query_type': 'VARCHAR', "
        "'query_timestamp': 'VARCHAR', 'srcids': 'JSON'})"
    )
    counts["dns-01"] = con.execute("SELECT count(*) FROM q WHERE upper(rcode) = 'NXDOMAIN'").fetchone()[0]
    # DNS exfiltration as far as SQL goes: per instance and parent domain (last two labels) in 10
    # minutes, 10+ distinct names whose first label is 30+ characters.
    groups["dns-exfiltration"] = con.execute(
        "SELECT count(*) FROM (SELECT srcids->>'instance' AS inst, "
        "regexp_extract(rtrim(query_name, '.'), '([^.]+\\.[^.]+)$', 1) AS parent, "
        "epoch(CAST(query_timestamp AS TIMESTAMP)) // 600 AS w FROM q "
        "WHERE length(split_part(query_name, '.', 1)) >= 30 GROUP BY ALL "
        "HAVING count(DISTINCT query_name) >= 10)"
    ).fetchone()[0]
else:
    sys.exit(f"unknown kind {kind}")

print(json.dumps({"seconds": time.time() - t, "counts": counts, "groups": groups}))
