//! Real logs nobody in this project wrote (`../shared/data/public/`): exact record counts, and
//! the malformed sample reported by path without stopping the run.

mod common;

use common::{Seen, merge, shared};
use trailhound::{LogKind, ScanOptions, ScanSummary, scan_paths};

fn run(rel: &str) -> (Seen, ScanSummary) {
    scan_paths(
        &[shared(rel)],
        &ScanOptions::default(),
        Seen::default,
        merge,
        &|_| {},
    )
    .expect("scan")
}

#[test]
fn invictus_s3_export_has_2900_records() {
    // 55 files in the folder (its MANIFEST says 54; the folder is what counts).
    let (seen, s) = run("invictus-ir-aws_dataset");
    let ct = &s.by_kind[&LogKind::CloudTrail];
    assert_eq!(
        (
            ct.objects_scanned,
            ct.records_read,
            ct.records_parsed,
            ct.records_rejected
        ),
        (55, 2900, 2900, 0)
    );
    assert_eq!(
        s.objects_skipped_by_reason.get("unknown-kind"),
        Some(&2),
        "README.md and LICENSE"
    );
    assert_eq!(seen.0.len(), 2900);
    // The account's IAM user and its long-term key are read from every user call.
    assert!(
        seen.0
            .iter()
            .any(|l| l.contains(" IAMUser AKIATFQR7NSC8Q4X20BJ "))
    );
}

#[test]
fn stratus_arrays_have_310_records() {
    let (_, s) = run("stratus-red-team-detonation-logs");
    let ct = &s.by_kind[&LogKind::CloudTrail];
    assert_eq!(
        (ct.objects_scanned, ct.records_read, ct.records_parsed),
        (35, 310, 310)
    );
    assert_eq!(s.totals.objects_failed, 0);
}

#[test]
fn otrf_logstash_lines_have_103_records() {
    let (seen, s) = run("otrf-security-datasets");
    let ct = &s.by_kind[&LogKind::CloudTrail];
    assert_eq!(
        (ct.objects_scanned, ct.records_read, ct.records_parsed),
        (1, 103, 103)
    );
    // The CSV, the YAML metadata and the licence are not logs.
    assert_eq!(s.objects_skipped_by_reason.get("unknown-kind"), Some(&4));
    // `@timestamp` stands in for the missing eventTime.
    assert!(seen.0.iter().all(|l| !l.starts_with("ct 0 ")));
}

#[test]
fn cado_samples_and_the_malformed_one() {
    let (_, s) = run("cado-cloudgrep-tests");
    let ct = &s.by_kind[&LogKind::CloudTrail];
    assert_eq!(
        (ct.objects_scanned, ct.objects_failed, ct.records_parsed),
        (2, 1, 2)
    );
    let bad: Vec<_> = s.errors.iter().filter(|e| e.scope == "object").collect();
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0]
            .path
            .ends_with("cado-cloudgrep-tests/bad_cloudtrail.json"),
        "{:?}",
        bad[0]
    );
    assert_eq!(bad[0].code, "invalid-json");
    assert_eq!(bad[0].line, Some(26), "{}", bad[0].reason);
    assert!(s.has_input_errors());
}

#[test]
fn resolver_sample_has_one_record() {
    let (seen, s) = run("opensearch-security-analytics");
    let dns = &s.by_kind[&LogKind::Dns];
    assert_eq!((dns.objects_scanned, dns.records_parsed), (1, 1));
    assert_eq!(
        seen.0,
        vec!["dns 1665694956000 ip-127-0-0-62.alert.firewall.canary Some(15083) -"]
    );
}

#[test]
fn whole_public_folder_in_one_run() {
    let (_, s) = scan_paths(
        &[shared("")],
        &ScanOptions {
            threads: 2,
            ..ScanOptions::default()
        },
        Seen::default,
        merge,
        &|_| {},
    )
    .expect("scan");
    assert_eq!(
        s.by_kind[&LogKind::CloudTrail].records_parsed,
        2900 + 310 + 103 + 2
    );
    assert_eq!(s.by_kind[&LogKind::Dns].records_parsed, 1);
    assert_eq!(s.totals.objects_failed, 1);
    // Panther's labelled test files and SigmaHQ rules are not logs: skipped, not failed.
    assert_eq!(s.totals.records_rejected, 0);
}
