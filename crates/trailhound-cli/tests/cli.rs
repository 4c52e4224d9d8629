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
    assert_eq!(v["findings"], 0);
    assert!(
        stderr.contains("37 read = 34 parsed + 3 skipped + 0 rejected"),
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
    // No rules yet: the output exists and holds no findings.
    assert_eq!(std::fs::read(&out).unwrap(), b"");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );
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
    assert_eq!(truth.lines().count(), 10);
    assert!(truth.contains("Stealth:IAMUser/CloudTrailLoggingDisabled"));
}
