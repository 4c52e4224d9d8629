//! `first_seen` histories settled between batches (`Detector::close_windows`): values first seen
//! after the learning period are dropped, a signal with more than `max-values` values saturates,
//! and a group's tuples are folded once their novelty is settled. The findings must be exactly
//! those of a detector that keeps everything to the end, however the records are split between
//! detectors.

mod common;

use std::sync::Arc;

use trailhound_detect::{Detector, Finding, Plan};
use trailhound_model::{CloudTrailRecord, PerKind, RecordSink};

const RULES: &str = r#"
title: Any call by an IAM user
id: t-activity
name: t-activity
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {userIdentity.type: IAMUser}
  condition: selection
level: informational
---
title: ListUsers from a new network (wide)
id: t-wide
correlation:
  type: first_seen
  rules: [t-activity, t-listusers]
  group-by: [userIdentity.arn]
  fields: [sourceIPAddress]
  timespan: 1h
level: low
finding:
  type: "Discovery:IAMUser/AnomalousBehavior.Wide"
  severity: 2.0
  resource:
    - {type: IAMPrincipal, field: userIdentity.arn}
---
title: ListUsers from a new network (narrow)
id: t-narrow
correlation:
  type: first_seen
  rules: [t-activity, t-listusers]
  group-by: [userIdentity.arn]
  fields: [sourceIPAddress]
  timespan: 1h
  max-values: 3
level: low
finding:
  type: "Discovery:IAMUser/AnomalousBehavior.Narrow"
  severity: 2.0
  resource:
    - {type: IAMPrincipal, field: userIdentity.arn}
"#;

/// A call by `user` at minute `min` from `ip`.
fn ev(user: &str, min: i64, ip: &str, api: &str) -> String {
    common::call(user, min * 60_000, ip, api)
}

/// [`common::scan`] with horizons in minutes, settled (with `saturated` signals) and finished.
fn scan(
    plan: &Arc<Plan>,
    batches: &[(Vec<String>, i64)],
    close: bool,
    saturated: u64,
) -> Vec<Finding> {
    let batches: Vec<(Vec<String>, i64)> = batches
        .iter()
        .map(|(r, h)| (r.clone(), h * 60_000))
        .collect();
    let mut scan = common::scan(plan, &batches, close);
    scan.settle_histories();
    assert_eq!(scan.saturated_signals(), saturated);
    scan.finish()
}

/// One detector reading every record itself, its windows closed after each batch when
/// `close`: its histories are built by its own updates alone, never by a merge.
fn alone(
    plan: &Arc<Plan>,
    batches: &[(Vec<String>, i64)],
    close: bool,
    saturated: u64,
) -> Vec<Finding> {
    let mut det = Detector::new(Arc::clone(plan));
    for (records, horizon) in batches {
        for r in records {
            det.cloudtrail(&CloudTrailRecord::parse(r).unwrap());
        }
        if close {
            det.close_windows(PerKind::uniform(common::T0 + horizon * 60_000));
        }
    }
    det.settle_histories();
    assert_eq!(det.saturated_signals(), saturated);
    det.finish()
}

/// The findings of `batches` (horizons in minutes), which must be the same whether the windows
/// close between batches or only at the end, and whether the records are split between merged
/// detectors or one detector reads them all; `saturated` signals in every case.
fn findings(plan: &Arc<Plan>, batches: &[(Vec<String>, i64)], saturated: u64) -> Vec<Finding> {
    let kept = scan(plan, batches, false, saturated);
    let json = |f: &[Finding]| serde_json::to_string(f).unwrap();
    for (how, other) in [
        ("closed", scan(plan, batches, true, saturated)),
        ("alone, closed", alone(plan, batches, true, saturated)),
        ("alone", alone(plan, batches, false, saturated)),
    ] {
        assert_eq!(json(&other), json(&kept), "{how}");
    }
    kept
}

#[test]
fn settling_between_batches_gives_the_findings_of_keeping_everything() {
    let plan = common::plan(&[common::LIST_USERS, RULES].join("---\n"));
    // alice learns two networks in her first hour; bob learns five (more than the narrow
    // rule's three).
    let mut learn = vec![
        ev("alice", 0, "198.51.100.1", "GetUser"),
        ev("alice", 10, "198.51.100.2", "GetUser"),
    ];
    for i in 0..5 {
        learn.push(ev("bob", i, &format!("203.0.113.{i}"), "GetUser"));
    }
    let batches = vec![
        (learn, 50),
        (
            vec![
                // A known network: not new.
                ev("alice", 90, "198.51.100.2", "ListUsers"),
                // A new one, twice in this batch and again in the next.
                ev("alice", 95, "192.0.2.7", "ListUsers"),
                ev("alice", 96, "192.0.2.7", "ListUsers"),
                ev("bob", 100, "192.0.2.99", "ListUsers"),
            ],
            // Past both users' learning period: their tuples settle here.
            120,
        ),
        (
            vec![
                ev("alice", 130, "192.0.2.7", "ListUsers"),
                ev("alice", 140, "192.0.2.8", "ListUsers"),
                // Only seen after the learning period: new however often it comes.
                ev("bob", 150, "192.0.2.99", "ListUsers"),
            ],
            200,
        ),
    ];
    // Only bob's network signal in the narrow rule's history: five values, three allowed.
    let kept = findings(&plan, &batches, 1);

    let find = |ty: &str, user: &str| {
        kept.iter()
            .find(|f| f.finding_type.ends_with(ty) && f.resource.id.ends_with(user))
    };
    let alice = find("Wide", "alice").expect("alice's new networks");
    // The three calls from 192.0.2.7 are one tuple (one sample), 192.0.2.8 another.
    assert_eq!(alice.count, 4);
    assert_eq!(alice.samples.len(), 2, "{:?}", alice.samples);
    assert_eq!(alice.first_seen, common::T0 + 95 * 60_000);
    assert_eq!(alice.last_seen, common::T0 + 140 * 60_000);
    assert_eq!(find("Narrow", "alice").map(|f| f.count), Some(4));
    assert_eq!(find("Wide", "bob").map(|f| f.count), Some(2));
    // bob's network signal saturated while he was learned: no value of it is new.
    assert!(find("Narrow", "bob").is_none(), "{kept:?}");
}

/// Every tuple seen after the learning period, new values or not.
const EVERY: &str = r#"
title: ListUsers after the learning period
id: t-every
correlation:
  type: first_seen
  rules: [t-activity, t-listusers]
  group-by: [userIdentity.arn]
  fields: [sourceIPAddress]
  timespan: 1h
  condition: {gte: 0}
level: low
finding:
  type: "Discovery:IAMUser/AnomalousBehavior.Every"
  severity: 2.0
  resource:
    - {type: IAMPrincipal, field: userIdentity.arn}
"#;

#[test]
fn behaviour_inside_a_fixed_learning_period_is_not_kept_and_changes_nothing() {
    let plan = common::plan(&[common::LIST_USERS, RULES, EVERY].join("---\n"));
    let batches = vec![
        // carol's start is fixed once the windows before minute 20 close.
        (vec![ev("carol", 0, "198.51.100.1", "GetUser")], 20),
        (
            vec![
                // Inside her learning period, in a later batch: her detector is told it is
                // fixed, and keeps nothing of this behaviour.
                ev("carol", 30, "192.0.2.50", "ListUsers"),
                ev("carol", 40, "192.0.2.51", "GetUser"),
            ],
            50,
        ),
        (
            vec![
                // Learned in the period, as behaviour (.50) or not (.51): not new.
                ev("carol", 90, "192.0.2.50", "ListUsers"),
                ev("carol", 95, "192.0.2.51", "ListUsers"),
                // New.
                ev("carol", 100, "192.0.2.52", "ListUsers"),
            ],
            200,
        ),
    ];
    // Three networks learned, as many as the narrow rule allows.
    let kept = findings(&plan, &batches, 0);
    let find = |ty: &str| kept.iter().find(|f| f.finding_type.ends_with(ty));
    // Only .52 is new.
    let wide = find("Wide").expect("carol's new network");
    assert_eq!(
        (wide.count, wide.first_seen),
        (1, common::T0 + 100 * 60_000)
    );
    // Every tuple whose first event is after the learning period: .51 and .52, not .50 (its
    // behaviour began inside the period).
    let every = find("Every").expect("carol's later tuples");
    assert_eq!(every.count, 2, "{every:?}");
    assert_eq!(every.first_seen, common::T0 + 95 * 60_000);
}
