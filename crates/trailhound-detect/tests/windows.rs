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

/// With [`RULES`], correlations fed by the same events, two with one resource and one with
/// another: an event that opens a bucket in each gives each the resource its own rule names (the
/// engine builds an event's head once for the correlations whose resources are the same, not for
/// all of them).
const SAME_EVENTS: &str = r#"
title: Three ListUsers within a minute, by user and address
id: t-by-user-and-address
correlation:
  type: event_count
  rules: [t-listusers]
  group-by: [userIdentity.arn, sourceIPAddress]
  timespan: 1m
  condition: {gte: 3}
level: low
finding:
  type: "Persistence:IAMUser/AnomalousBehavior"
  severity: 3.0
  resource:
    - {type: IAMPrincipal, field: userIdentity.arn}
---
title: Three ListUsers within a minute, from one address
id: t-by-address
correlation:
  type: event_count
  rules: [t-listusers]
  group-by: [sourceIPAddress]
  timespan: 1m
  condition: {gte: 3}
level: low
finding:
  type: "Recon:IAMUser/NetworkPermissions"
  severity: 2.0
  resource:
    - {type: IPAddress, field: sourceIPAddress}
"#;

#[test]
fn correlations_fed_by_one_event_each_name_their_own_resource() {
    let plan = common::plan(&[common::LIST_USERS, RULES, SAME_EVENTS].join("---\n"));
    let events: Vec<String> = (0..3).map(|s| ev("alice", s * 10)).collect();
    for close in [false, true] {
        let found = scan(&plan, &[(events.clone(), 300)], close);
        let mut got: Vec<(String, String, String, u64)> = found
            .iter()
            .map(|f| {
                (
                    f.rule_id.to_string(),
                    f.resource.kind.clone(),
                    f.resource.id.clone(),
                    f.count,
                )
            })
            .collect();
        got.sort();
        let user = "arn:aws:iam::111122223333:user/alice".to_string();
        assert_eq!(
            got,
            vec![
                ("t-burst".into(), "IAMPrincipal".into(), user.clone(), 3),
                (
                    "t-by-address".into(),
                    "IPAddress".into(),
                    "198.51.100.1".into(),
                    3
                ),
                (
                    "t-by-user-and-address".into(),
                    "IAMPrincipal".into(),
                    user,
                    3
                ),
            ],
            "close = {close}"
        );
    }
}
