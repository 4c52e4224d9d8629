//! The CLI contract: flags, exit codes, `--summary-json` keys, outputs written atomically.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailhound"))
}

fn fixtures(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn summary(args: &[&str]) -> (i32, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let o = bin()
        .args(["scan"])
        .args(args)
        .arg("--summary-json")
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    (
        o.status.code().unwrap(),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn clean_scan_exits_zero_with_every_summary_key() {
    let (code, v, stderr) = summary(&[
        fixtures("s3").to_str().unwrap(),
        fixtures("loose").to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for k in [
        "objects_scanned",
        "objects_skipped",
        "objects_failed",
        "records_read",
        "records_skipped",
        "records_rejected",
        "bytes_compressed",
        "bytes_uncompressed",
        "findings",
        "elapsed_seconds",
        "by_kind",
        "errors",
        "first_seen_saturated",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for kind in ["cloudtrail", "vpcflow", "dns"] {
        assert!(
            v["by_kind"][kind]["records_read"].is_u64(),
            "by_kind.{kind}"
        );
    }
    assert_eq!(v["records_read"], 37);
    assert_eq!(v["by_kind"]["cloudtrail"]["records_read"], 12);
    assert_eq!(v["objects_skipped"], 4);
    assert_eq!(
        v["findings"], 3,
        "trail stopped/deleted by one key, root use, security group opened to the world (EventBridge event)"
    );
    assert!(
        stderr.contains("37 read = 34 parsed + 3 skipped + 0 rejected"),
        "{stderr}"
    );
    assert!(
        stderr.contains("findings by severity: Medium 1, Low 2"),
        "{stderr}"
    );
}

#[test]
fn input_errors_exit_two_and_name_the_file() {
    let (code, v, stderr) = summary(&[
        fixtures("malformed").to_str().unwrap(),
        "--max-decompressed-size",
        "16MiB",
    ]);
    assert_eq!(code, 2);
    assert_eq!(v["objects_failed"], 6);
    let errors = v["errors"].as_array().unwrap();
    assert!(errors.iter().any(
        |e| e["path"].as_str().unwrap().ends_with("truncated.json.gz")
            && e["code"] == "corrupt-gzip"
    ));
    assert!(
        stderr.contains("bomb.json.gz: decompressed size exceeds the cap"),
        "{stderr}"
    );
}

#[test]
fn missing_path_is_an_input_error() {
    let (code, v, _) = summary(&["/nonexistent/trailhound/path"]);
    assert_eq!(code, 2);
    assert_eq!(v["errors"][0]["code"], "not-found");
}

#[test]
fn findings_go_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.jsonl");
    let o = bin()
        .args(["scan", "-q", "--format", "jsonl", "-o"])
        .arg(&out)
        .arg(fixtures("s3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "--quiet prints nothing");
    let text = std::fs::read_to_string(&out).unwrap();
    let findings: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(findings.len(), 2);
    let stop = findings
        .iter()
        .find(|f| f["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled")
        .unwrap();
    for key in [
        "id",
        "type",
        "severity",
        "severity_label",
        "title",
        "account",
        "region",
        "resource",
        "count",
        "first_seen",
        "last_seen",
        "rule_id",
        "samples",
    ] {
        assert!(stop.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        stop["resource"],
        serde_json::json!({"type": "AccessKey", "id": "AKIAEXAMPLE000000001"})
    );
    assert_eq!(stop["count"], 1, "only the S3 fixture tree was scanned");
    assert_eq!(stop["severity"], 2.0);
    assert_eq!(stop["severity_label"], "Low");
    assert_eq!(stop["rule_id"], "th-ct-0001");
    assert_eq!(stop["first_seen"], "2024-03-01T12:01:00.000Z");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );
}

#[test]
fn devices_pipes_and_links_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let s3 = fixtures("s3");
    let scan_to = |out: &std::path::Path| {
        let (code, _, stderr) = run(&[
            "scan",
            "-q",
            "-o",
            out.to_str().unwrap(),
            s3.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
    };
    // A device is written, not replaced by a renamed temporary file.
    scan_to(std::path::Path::new("/dev/null"));
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(
        null.file_type().is_char_device(),
        "/dev/null is still a device"
    );

    // A named pipe: its reader gets the findings.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("findings.pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    scan_to(&fifo);
    // (Checked before joining: had the pipe been replaced, its reader would wait forever.)
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");

    // A link to a file stays a link; the file it points to gets the findings.
    let target = dir.path().join("real.jsonl");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    scan_to(&link);
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let text = std::fs::read_to_string(&target).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.starts_with('{')));
}

#[test]
fn unwritable_output_is_an_error_with_the_path() {
    let o = bin()
        .args(["scan", "-q", "-o", "/nonexistent-dir/f.jsonl"])
        .arg(fixtures("s3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent-dir/f.jsonl"));
}

#[test]
fn since_until_and_bad_times() {
    let (code, v, _) = summary(&[
        fixtures("s3").to_str().unwrap(),
        "--since",
        "2024-03-01T13:00:00Z",
        "--until",
        "2024-03-01",
    ]);
    assert_eq!(code, 0);
    // --until with a bare date covers that whole day: the org-trail records at 13:00-13:02 stay.
    assert_eq!(v["by_kind"]["cloudtrail"]["records_parsed"], 3);
    let o = bin()
        .args(["scan", "--since", "last tuesday"])
        .arg(fixtures("s3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--since"));
}

#[test]
fn rule_flags_are_accepted() {
    let (code, _, _) = summary(&[
        fixtures("s3").to_str().unwrap(),
        "--rules",
        fixtures("loose").to_str().unwrap(),
        "--no-default-rules",
    ]);
    assert_eq!(code, 0);
    let o = bin()
        .args(["scan", "--rules", "/nonexistent-rules"])
        .arg(fixtures("s3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn corpus_generate_then_scan_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "corpus",
            "generate",
            "--size",
            "3MiB",
            "--seed",
            "9",
            "--attacks",
            "--object-size",
            "256KiB",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let (code, v, _) = summary(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["records_read"], manifest["report"]["records"]);
    assert_eq!(v["records_rejected"], 0);
    assert_eq!(
        v["objects_skipped"], 2,
        "manifest.json and ground-truth.jsonl are not logs"
    );
    let truth = std::fs::read_to_string(dir.path().join("ground-truth.jsonl")).unwrap();
    // Ten hand-written scenarios plus one per flow/resolver detector built from its rule test.
    assert!(truth.lines().count() > 20, "{truth}");
    assert!(truth.contains("Stealth:IAMUser/CloudTrailLoggingDisabled"));
    assert!(truth.contains("\"scenario\":\"rule-th-dns-0007\""));
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn fail_on_sets_exit_code_one() {
    let s3 = fixtures("s3");
    let s3 = s3.to_str().unwrap();
    assert_eq!(run(&["scan", "-q", s3, "--fail-on", "low"]).0, 1);
    assert_eq!(run(&["scan", "-q", s3, "--fail-on", "high"]).0, 0);
    assert_eq!(run(&["scan", "-q", s3, "--fail-on", "2.0"]).0, 1);
    assert_eq!(run(&["scan", "-q", s3, "--fail-on", "severe"]).0, 2);
}

#[test]
fn threat_list_and_trusted_ips() {
    let dir = tempfile::tempdir().unwrap();
    let threat = dir.path().join("threat.txt");
    std::fs::write(
        &threat,
        "# mine\nexample.com\n198.51.100.77\n203.0.113.10\n",
    )
    .unwrap();
    let trusted = dir.path().join("trusted.txt");
    std::fs::write(&trusted, "203.0.113.0/24\n").unwrap();
    let s3 = fixtures("s3");
    let (code, out, _) = run(&[
        "scan",
        "-q",
        s3.to_str().unwrap(),
        "--threat-list",
        threat.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Impact:EC2/MaliciousDomainRequest.Custom"),
        "{out}"
    );
    assert!(
        out.contains("\"id\":\"i-0abc1234def567890\""),
        "the querying instance is the resource: {out}"
    );
    let (_, out, _) = run(&[
        "scan",
        "-q",
        s3.to_str().unwrap(),
        "--trusted-ips",
        trusted.to_str().unwrap(),
    ]);
    assert!(
        !out.contains("CloudTrailLoggingDisabled"),
        "calls from a trusted address raise nothing: {out}"
    );
    assert!(
        out.contains("RootCredentialUsage"),
        "the IPv6 root call is not trusted"
    );
    std::fs::write(&trusted, "not-an-ip\n").unwrap();
    let (code, _, err) = run(&[
        "scan",
        "-q",
        s3.to_str().unwrap(),
        "--trusted-ips",
        trusted.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not-an-ip"));
}

#[test]
fn rules_subcommands() {
    let (code, out, _) = run(&["rules", "test"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    let (code, out, _) = run(&["rules", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("th-ct-0001") && out.contains("Stealth:IAMUser/CloudTrailLoggingDisabled")
    );
    let (code, out, _) = run(&["rules", "explain"]);
    assert_eq!(code, 0);
    assert!(out.contains("indexed by eventName"), "{out}");
    assert!(out.contains("domain set of 1"), "{out}");
    // A first_seen correlation names its signals and how many values of each it keeps.
    assert!(
        out.contains(
            "signals [\"source_ip_prefix\", \"user_agent_family\", \"awsRegion\"], history 0, at most 4096 values per signal"
        ),
        "{out}"
    );
}

#[test]
fn lint_reports_every_problem_with_file_line_and_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yml"), "title: a\nid: a\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|bogus: x\n  condition: sel\n").unwrap();
    std::fs::write(dir.path().join("b.yml"), "title: b\nid: b\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: x}\n  condition: sel and nope\n").unwrap();
    std::fs::write(dir.path().join("c.yml"), "title: c\n  bad: [indent\n").unwrap();
    std::fs::write(dir.path().join("d.yml"), "title: d\nid: a\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: x}\n  condition: sel\nfinding: {type: NotAType, severity: 12}\n").unwrap();
    let (code, out, _) = run(&[
        "rules",
        "lint",
        "--no-default-rules",
        "--rules",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("a.yml:6: error[TH004]: unknown modifier `bogus`"),
        "{out}"
    );
    assert!(
        out.contains("b.yml:6: error[TH003]: unknown selection `nope`"),
        "{out}"
    );
    assert!(
        out.contains("c.yml:") && out.contains("error[TH001]"),
        "{out}"
    );
    assert!(out.contains("d.yml:7: error[TH009]"), "{out}");
    let (code, _, err) = run(&[
        "scan",
        "--no-default-rules",
        "--rules",
        dir.path().to_str().unwrap(),
        fixtures("s3").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "a scan refuses broken rules");
    assert!(err.contains("rule errors"), "{err}");
}

#[test]
fn sigmahq_rules_run_unmodified() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/public");
    let (code, out, _) = run(&[
        "scan",
        "-q",
        "--no-default-rules",
        "--rules",
        shared.join("sigmahq-aws-cloudtrail").to_str().unwrap(),
        shared
            .join("stratus-red-team-detonation-logs")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0);
    let findings: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The Stratus technique "cloudtrail-delete" is caught by SigmaHQ's trail rule, under its UUID.
    assert!(
        findings
            .iter()
            .any(|f| f["rule_id"] == "4db60cc0-36fb-42b7-9b58-a5b53019fb74"),
        "{out}"
    );
    assert!(findings.len() > 10);
}

#[test]
fn saturated_first_seen_signals_are_reported() {
    // One value per account allowed: any account that called from two addresses saturates.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fs.yml"),
        "title: New caller address for an account
id: t-fs
correlation:
  type: first_seen
  rules: [th-ct-principal-activity, th-ct-discovery-api]
  group-by: [recipientAccountId]
  fields: [sourceIPAddress]
  timespan: 1d
  max-values: 1
level: low
finding: {type: 'Discovery:IAMUser/AnomalousBehavior', severity: 2.0}
",
    )
    .unwrap();
    let (code, v, stderr) = summary(&[
        fixtures("s3").to_str().unwrap(),
        "--rules",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let n = v["first_seen_saturated"].as_u64().unwrap();
    assert!(n > 0, "{v}");
    assert!(
        stderr.contains(&format!("first_seen signals saturated: {n} ")),
        "{stderr}"
    );
    // The bundled pack alone keeps 4,096 values a signal: nothing saturates on the fixtures.
    let (_, v, stderr) = summary(&[fixtures("s3").to_str().unwrap()]);
    assert_eq!(v["first_seen_saturated"], 0);
    assert!(!stderr.contains("saturated"), "{stderr}");
}
