//! Window correlations across sub-buckets: a window starts at each sub-bucket a group has events
//! in and covers the correlation's timespan; every bucket of a matching window counts in the
//! finding, and a bucket before the window that matched does not. The findings must be the same
//! whether the windows close between batches or only at the end, and however the records are
//! split between detectors.

use std::sync::Arc;

use trailhound_detect::{Detector, Finding, Plan};
use trailhound_model::{CloudTrailRecord, PerKind, RecordSink};

const RULES: &str = r#"
title: ListUsers
id: t-listusers
name: t-listusers
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName: ListUsers}
  condition: selection
level: informational
---
title: Three ListUsers within a minute
id: t-burst
correlation:
  type: event_count
  rules: [t-listusers]
  group-by: [userIdentity.arn]
  timespan: 1m
  condition: {gte: 3}
level: low
finding:
  type: "Discovery:IAMUser/AnomalousBehavior"
  severity: 2.0
  resource:
    - {type: IAMPrincipal, field: userIdentity.arn}
"#;

const T0: i64 = 1_717_200_000_000;

fn plan() -> Arc<Plan> {
    let dir = std::env::temp_dir().join(format!("trailhound-windows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
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

/// A ListUsers call by `user` at second `sec`.
fn ev(user: &str, sec: i64) -> String {
    let t = trailhound_model::time::format_millis(T0 + sec * 1000);
    format!(
        r#"{{"eventTime":"{t}","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"{user}-{sec}",
        "recipientAccountId":"111122223333","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.1",
        "userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}"}}}}"#
    )
}

/// Batches of records, each read by two detectors (alternating records) merged into the scan's;
/// after each batch the windows before its horizon (seconds) close when `close`.
fn scan(plan: &Arc<Plan>, batches: &[(Vec<String>, i64)], close: bool) -> Vec<Finding> {
    let mut scan = Detector::new(Arc::clone(plan));
    for (records, horizon) in batches {
        let mut a = Detector::new(Arc::clone(plan));
        let mut b = Detector::new(Arc::clone(plan));
        for (i, r) in records.iter().enumerate() {
            let rec = CloudTrailRecord::parse(r).unwrap();
            if i % 2 == 0 {
                a.cloudtrail(&rec);
            } else {
                b.cloudtrail(&rec);
            }
        }
        scan = scan.merge(b.merge(a));
        if close {
            scan.close_windows(PerKind::uniform(T0 + horizon * 1000));
        }
    }
    scan.finish()
}

#[test]
fn a_matching_window_counts_every_bucket_it_covers_and_no_earlier_one() {
    let plan = plan();
    // Sub-buckets are 15 s wide. alice: one event in each of three sub-buckets of one minute.
    // bob: three events more than a minute apart. carol: an event at 0 s whose window holds
    // two events, then three from 50 s to 70 s, a window of their own. dave: his three events
    // arrive in different batches, the windows closing between them only after the last.
    let batches = vec![
        (
            vec![
                ev("alice", 0),
                ev("bob", 0),
                ev("carol", 0),
                ev("alice", 20),
                ev("dave", 300),
            ],
            10,
        ),
        (
            vec![
                ev("alice", 40),
                ev("carol", 50),
                ev("bob", 70),
                ev("carol", 65),
                ev("dave", 315),
            ],
            60,
        ),
        (vec![ev("carol", 70), ev("bob", 140), ev("dave", 330)], 400),
    ];
    let kept = scan(&plan, &batches, false);
    let closed = scan(&plan, &batches, true);
    let json = |f: &[Finding]| serde_json::to_string(f).unwrap();
    assert_eq!(json(&closed), json(&kept));

    let find = |user: &str| kept.iter().find(|f| f.resource.id.ends_with(user));
    let span = |f: &Finding| (f.count, f.first_seen - T0, f.last_seen - T0);
    assert_eq!(find("alice").map(span), Some((3, 0, 40_000)));
    assert!(find("bob").is_none(), "{kept:?}");
    assert_eq!(find("carol").map(span), Some((3, 50_000, 70_000)));
    assert_eq!(find("dave").map(span), Some((3, 300_000, 330_000)));
    assert_eq!(kept.len(), 3);
}
