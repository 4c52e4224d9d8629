//! Window correlations across sub-buckets: a window starts at each sub-bucket a group has events
//! in and covers the correlation's timespan; every bucket of a matching window counts in the
//! finding, and a bucket before the window that matched does not. The findings must be the same
//! whether the windows close between batches or only at the end, and however the records are
//! split between detectors.

mod common;

use std::sync::Arc;

use common::T0;
use trailhound_detect::{Finding, Plan};

const RULES: &str = r#"
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

/// A ListUsers call by `user` at second `sec`.
fn ev(user: &str, sec: i64) -> String {
    common::call(user, sec * 1000, "198.51.100.1", "ListUsers")
}

/// [`common::scan`] with horizons in seconds, finished.
fn scan(plan: &Arc<Plan>, batches: &[(Vec<String>, i64)], close: bool) -> Vec<Finding> {
    let batches: Vec<(Vec<String>, i64)> =
        batches.iter().map(|(r, h)| (r.clone(), h * 1000)).collect();
    common::scan(plan, &batches, close).finish()
}

#[test]
fn a_matching_window_counts_every_bucket_it_covers_and_no_earlier_one() {
    let plan = common::plan(&[common::LIST_USERS, RULES].join("---\n"));
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
