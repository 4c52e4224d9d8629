//! Running a rule's inline test events (`trailhound rules test`): every `tests.match` event must
//! raise the rule's finding and every `tests.no_match` event must not.

use std::sync::Arc;

use serde::Serialize;
use trailhound_model::{CloudTrailRecord, DnsRecord, FlowRecord, FlowSchema, LogKind, RecordSink};
use trailhound_rules::rule::TestEvent;
use trailhound_rules::{Body, Rule, RuleSet};

use crate::engine::Detector;
use crate::plan::Plan;

/// Default event time for test events that omit it.
pub const DEFAULT_TIME: &str = "2024-01-01T00:00:00Z";

/// The result of one test event.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// Rule id.
    pub rule_id: String,
    /// Rule file.
    pub path: String,
    /// Line of the event.
    pub line: usize,
    /// Whether it should fire.
    pub expected: bool,
    /// Whether it fired.
    pub fired: bool,
    /// Set when the event could not be read.
    pub error: Option<String>,
}

impl TestOutcome {
    /// True when the outcome is as declared.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.expected == self.fired
    }
}

/// Feeds one test event (the object form rule files use) to a detector; missing timestamps
/// default to 2024-01-01.
pub fn feed(d: &mut Detector, kind: LogKind, ev: &serde_json::Value) -> Result<(), String> {
    let mut ev = ev.clone();
    let obj = ev.as_object_mut().ok_or("a test event must be an object")?;
    match kind {
        LogKind::CloudTrail => {
            obj.entry("eventTime")
                .or_insert_with(|| DEFAULT_TIME.into());
            let text = ev.to_string();
            let r = CloudTrailRecord::parse(&text).map_err(|e| e.to_string())?;
            d.cloudtrail(&r);
        }
        LogKind::Dns => {
            obj.entry("query_timestamp")
                .or_insert_with(|| DEFAULT_TIME.into());
            let text = ev.to_string();
            let r = DnsRecord::parse(&text).map_err(|e| e.to_string())?;
            d.dns(&r);
        }
        LogKind::VpcFlow => {
            let names: Vec<String> = obj.keys().cloned().collect();
            let schema = FlowSchema::from_names(names.iter().map(String::as_str))
                .map_err(|e| e.to_string())?;
            let line: Vec<String> = obj
                .values()
                .map(|v| match v {
                    serde_json::Value::Null => "-".to_owned(),
                    serde_json::Value::String(s) if s.is_empty() => "-".to_owned(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let line = line.join(" ");
            let mut ends = Vec::new();
            let r = FlowRecord::parse(&line, &schema, &mut ends).map_err(|e| e.to_string())?;
            d.flow(&r);
        }
    }
    Ok(())
}

fn run_one(
    plan: &Arc<Plan>,
    rule: &Rule,
    kind: LogKind,
    t: &TestEvent,
    expected: bool,
) -> TestOutcome {
    let mut d = Detector::new(Arc::clone(plan));
    let mut error = None;
    for ev in &t.events {
        if let Err(e) = feed(&mut d, kind, ev) {
            error = Some(e);
            break;
        }
    }
    let fired = d.finish().iter().any(|f| *f.rule_id == *rule.id);
    TestOutcome {
        rule_id: rule.id.clone(),
        path: rule.path.clone(),
        line: t.line,
        expected,
        fired,
        error,
    }
}

/// Runs every rule's tests, each rule alone (with its base rules, for a correlation).
pub fn run_tests(set: &RuleSet) -> Vec<TestOutcome> {
    let mut out = Vec::new();
    for rule in &set.rules {
        if rule.tests.matching.is_empty() && rule.tests.not_matching.is_empty() {
            continue;
        }
        let mut one = RuleSet {
            rules: vec![rule.clone()],
            lists: set.lists.clone(),
        };
        if let Body::Correlation(c) = &rule.body {
            for id in &c.rules {
                if let Some(b) = set.rules.iter().find(|r| &r.id == id) {
                    let mut b = b.clone();
                    b.generate = false;
                    one.rules.push(b);
                }
            }
        } else {
            one.rules[0].generate = true;
        }
        let plan = Arc::new(Plan::new(&one, &[]));
        for t in &rule.tests.matching {
            out.push(run_one(&plan, rule, rule.kind, t, true));
        }
        for t in &rule.tests.not_matching {
            out.push(run_one(&plan, rule, rule.kind, t, false));
        }
    }
    out
}
