//! Every format variant in `fixtures/`, with hand-checked counts.

mod common;

use common::{Seen, fixtures, merge};
use trailhound::{LogKind, ScanOptions, ScanSummary, TimeRange, scan_paths};

fn run(paths: &[std::path::PathBuf], opts: &ScanOptions) -> (Seen, ScanSummary) {
    scan_paths(paths, opts, Seen::default, merge, &|_| {}).expect("scan")
}

#[test]
fn bundled_fixtures_have_exact_counts() {
    let (seen, s) = run(
        &[fixtures("s3"), fixtures("loose")],
        &ScanOptions::default(),
    );
    let ct = &s.by_kind[&LogKind::CloudTrail];
    let flow = &s.by_kind[&LogKind::VpcFlow];
    let dns = &s.by_kind[&LogKind::Dns];
    // 4 (S3 file) + 3 (org trail, two gzip members) + 0 (empty Records) + 2 (array) + 3 (JSON lines)
    assert_eq!(
        (ct.objects_scanned, ct.records_read, ct.records_parsed),
        (5, 12, 12)
    );
    // 8 v2 lines (NODATA + SKIPDATA), 4 custom v8, 5 Parquet rows (1 NODATA), 3 headerless
    assert_eq!(
        (
            flow.objects_scanned,
            flow.records_read,
            flow.records_parsed,
            flow.records_skipped
        ),
        (4, 20, 17, 3)
    );
    assert_eq!(
        (dns.objects_scanned, dns.records_read, dns.records_parsed),
        (1, 5, 5)
    );
    assert_eq!(
        s.objects_skipped_by_reason.get("cloudtrail-digest"),
        Some(&1)
    );
    assert_eq!(
        s.objects_skipped_by_reason.get("cloudtrail-insight"),
        Some(&1)
    );
    assert_eq!(
        s.objects_skipped_by_reason.get("unknown-kind"),
        Some(&2),
        "ELB log and README.txt"
    );
    assert_eq!(s.records_skipped_by_reason.get("nodata"), Some(&2));
    assert_eq!(s.records_skipped_by_reason.get("skipdata"), Some(&1));
    assert_eq!(s.totals.objects_failed, 0);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(!s.has_input_errors());
    let t = &s.totals;
    assert_eq!(
        t.records_read,
        t.records_parsed + t.records_skipped + t.records_rejected
    );
    assert_eq!(seen.0.len() as u64, t.records_parsed);

    // Traps handled: service name as source, empty access key, IPv6 caller, EventBridge unwrapped.
    assert!(
        seen.0
            .iter()
            .any(|l| l.contains("ListBuckets AssumedRole ASIAEXAMPLE000000002 ec2.amazonaws.com"))
    );
    assert!(
        seen.0
            .iter()
            .any(|l| l.contains("GetCallerIdentity Root - 2001:db8::5"))
    );
    assert!(
        seen.0
            .iter()
            .any(|l| l.contains("AuthorizeSecurityGroupIngress"))
    );
    // Parquet nulls read as missing, ints as numbers; IPv6 flows.
    assert!(seen.0.iter().any(|l| l.starts_with("flow Some(203.0.113.5) Some(10.0.0.5) Some(55555) Some(22) Some(6) Some(Reject) Some(60) eni-0p1")));
    assert!(seen.0.iter().any(|l| l.contains("Some(2001:db8::10)")));
    // Resolver: trailing dot dropped, case folded, string port, empty srcids.
    assert!(
        seen.0
            .iter()
            .any(|l| l.ends_with("example.com Some(53210) i-0abc1234def567890"))
    );
    assert!(
        seen.0
            .iter()
            .any(|l| l.ends_with("nonexistent.internal Some(53210) -"))
    );
}

#[test]
fn same_records_in_same_order_for_any_thread_count() {
    let paths = [fixtures("s3"), fixtures("loose")];
    let (one, s1) = run(
        &paths,
        &ScanOptions {
            threads: 1,
            ..ScanOptions::default()
        },
    );
    for threads in [2, 8] {
        let (many, sn) = run(
            &paths,
            &ScanOptions {
                threads,
                ..ScanOptions::default()
            },
        );
        assert_eq!(one, many, "{threads} threads");
        assert_eq!(s1.totals, sn.totals);
        assert_eq!(s1.by_kind, sn.by_kind);
    }
}

#[test]
fn time_range_filters_records_and_counts_them() {
    let since = trailhound::model::time::parse_timestamp("2024-03-01T12:02:30Z").unwrap();
    let until = trailhound::model::time::parse_timestamp("2024-03-01T13:00:30Z").unwrap();
    let opts = ScanOptions {
        range: TimeRange {
            since: Some(since),
            until: Some(until),
        },
        ..ScanOptions::default()
    };
    let (seen, s) = run(&[fixtures("s3")], &opts);
    let ct = &s.by_kind[&LogKind::CloudTrail];
    // us-east-1 file: 12:03 and 12:04 are in; org trail: 13:00 is in, 13:01 and 13:02 are out.
    assert_eq!(ct.records_parsed, 3, "{seen:?}");
    assert_eq!(ct.records_skipped, 4);
    // Flows (6 + 4 + 4 OK lines, all 12:00-12:01) and queries (12:00) are before `since`.
    assert_eq!(
        s.records_skipped_by_reason
            .get("out-of-time-range")
            .copied()
            .unwrap_or(0),
        4 + 5 + 14
    );
}

#[test]
fn date_folders_prune_whole_objects() {
    let since = trailhound::model::time::parse_timestamp("2024-03-05").unwrap();
    let (_, s) = run(
        &[fixtures("s3")],
        &ScanOptions {
            range: TimeRange {
                since: Some(since),
                until: None,
            },
            ..ScanOptions::default()
        },
    );
    // Every dated object in the tree is from 2024-03-01 (digest/insight/ELB are skipped first).
    assert_eq!(
        s.objects_skipped_by_reason.get("out-of-time-range"),
        Some(&7)
    );
    assert_eq!(s.totals.objects_scanned, 0);
}

#[test]
fn malformed_inputs_are_reported_not_fatal() {
    let opts = ScanOptions {
        max_decompressed_bytes: 16 << 20,
        ..ScanOptions::default()
    };
    let (_, s) = run(&[fixtures("malformed"), fixtures("s3")], &opts);
    let failed: Vec<(String, String)> = s
        .errors
        .iter()
        .filter(|e| e.scope == "object")
        .map(|e| {
            (
                e.path.rsplit('/').next().unwrap().to_owned(),
                e.code.clone(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            ("binary-garbage.log.gz".into(), "unknown-content".into()),
            ("bomb.json.gz".into(), "too-large".into()),
            ("corrupt-crc.json.gz".into(), "corrupt-gzip".into()),
            ("invalid-json.json".into(), "invalid-json".into()),
            ("truncated.json.gz".into(), "corrupt-gzip".into()),
            ("wrong-header.log.gz".into(), "unknown-content".into()),
        ]
    );
    let invalid = s
        .errors
        .iter()
        .find(|e| e.path.ends_with("invalid-json.json"))
        .unwrap();
    assert_eq!((invalid.record, invalid.line), (Some(2), Some(3)));
    // The good objects of the same run are all read.
    assert_eq!(s.by_kind[&LogKind::Dns].records_parsed, 5);
    // Rejected records keep their line and reason; the rest of those files is read.
    let rejected: Vec<(String, Option<u64>, String)> = s
        .errors
        .iter()
        .filter(|e| e.scope == "record")
        .map(|e| {
            (
                e.path.rsplit('/').next().unwrap().to_owned(),
                e.line,
                e.code.clone(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            ("bad-flow-lines.log".into(), Some(3), "field-count".into()),
            ("bad-flow-lines.log".into(), Some(4), "bad-value".into()),
            ("bad-flow-lines.log".into(), Some(5), "bad-value".into()),
            ("bad-records.jsonl".into(), Some(2), "invalid-json".into()),
            ("bad-records.jsonl".into(), Some(3), "missing-field".into()),
            ("bad-records.jsonl".into(), Some(4), "bad-timestamp".into()),
        ]
    );
    assert_eq!(s.totals.objects_failed, 6);
    assert_eq!(s.totals.records_rejected, 6);
    assert!(s.has_input_errors());
    let t = &s.totals;
    assert_eq!(
        t.records_read,
        t.records_parsed + t.records_skipped + t.records_rejected
    );
}
