//! What the engine's integration tests share: a plan from rule text, CloudTrail calls by an IAM
//! user, and a scan that splits its records between detectors and batches.

use std::sync::Arc;

use trailhound_detect::{Detector, Plan};
use trailhound_model::{CloudTrailRecord, PerKind, RecordSink};

/// The time the tests' events count from (Unix ms).
pub const T0: i64 = 1_717_200_000_000;

/// The base rule `t-listusers`: every ListUsers call.
pub const LIST_USERS: &str = r#"
title: ListUsers
id: t-listusers
name: t-listusers
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName: ListUsers}
  condition: selection
level: informational
"#;

/// The plan of the rules in `yaml` (no errors allowed).
pub fn plan(yaml: &str) -> Arc<Plan> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("trailhound-rules-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yml"), yaml).unwrap();
    let (set, problems) = trailhound_rules::load(&trailhound_rules::LoadOptions {
        paths: vec![dir.clone()],
        ..Default::default()
    });
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        problems
            .iter()
            .all(|p| p.level != trailhound_rules::Level::Error),
        "{problems:?}"
    );
    Arc::new(Plan::new(&set, &[]))
}

/// A call to `api` by IAM user `user`, `ms` after [`T0`], from `ip`.
pub fn call(user: &str, ms: i64, ip: &str, api: &str) -> String {
    let t = trailhound_model::time::format_millis(T0 + ms);
    format!(
        r#"{{"eventTime":"{t}","eventSource":"iam.amazonaws.com","eventName":"{api}","eventID":"{user}-{ms}",
        "recipientAccountId":"111122223333","awsRegion":"us-east-1","sourceIPAddress":"{ip}",
        "userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}"}}}}"#
    )
}

/// Batches of records, each read by two detectors (alternating records) that are merged into
/// the scan's; after each batch the windows before its horizon (ms after [`T0`]) close when
/// `close`, and the next batch's detectors are told the `first_seen` learning periods that
/// fixed (as the scan does). Returns the scan's detector, not finished.
pub fn scan(plan: &Arc<Plan>, batches: &[(Vec<String>, i64)], close: bool) -> Detector {
    let mut scan = Detector::new(Arc::clone(plan));
    for (records, horizon) in batches {
        let learning = Arc::new(scan.learning_periods());
        let mut a = Detector::new(Arc::clone(plan)).with_learning_periods(Arc::clone(&learning));
        let mut b = Detector::new(Arc::clone(plan)).with_learning_periods(learning);
        for (i, r) in records.iter().enumerate() {
            let rec = CloudTrailRecord::parse(r).unwrap();
            if i % 2 == 0 {
                a.cloudtrail(&rec);
            } else {
                b.cloudtrail(&rec);
            }
        }
        scan = scan.merge(a.merge(b));
        if close {
            scan.close_windows(PerKind::uniform(T0 + horizon));
        }
    }
    scan
}
