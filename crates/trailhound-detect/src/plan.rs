//! The compiled plan: which rules a record of each kind can meet, with CloudTrail rules indexed by
//! `eventName` so a record is tested only against rules that could match it.

use std::fmt::Write as _;

use hashbrown::HashMap;

use trailhound_model::LogKind;

use crate::fields::FieldRef;
use trailhound_rules::detection::{Detection, fields, required_values};
use trailhound_rules::matcher::{Net, NetSet};
use trailhound_rules::rule::Correlation;
use trailhound_rules::{Body, Rule, RuleSet};

/// Resolved fields, parallel to a detection's selections → groups → items.
pub type Refs = Vec<Vec<Vec<FieldRef>>>;

/// A detection rule ready to run.
#[derive(Debug, Clone)]
pub struct DetectionRule {
    /// The rule (metadata, tests).
    pub rule: Rule,
    /// Its detection.
    pub det: Detection,
    /// Its fields, resolved for its log kind.
    pub refs: Refs,
    /// Correlations fed by it (indices into [`Plan::correlations`]), with this rule's position in
    /// each correlation's rule list.
    pub feeds: Vec<(u32, u32)>,
}

/// A correlation ready to run.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// The rule.
    pub rule: Rule,
    /// Its correlation section.
    pub corr: Correlation,
}

/// The whole plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Detection rules.
    pub rules: Vec<DetectionRule>,
    /// Correlations.
    pub correlations: Vec<CorrelationRule>,
    /// CloudTrail rules by lower-cased `eventName`.
    pub ct_by_name: HashMap<String, Vec<u32>>,
    /// CloudTrail rules that any record may meet.
    pub ct_always: Vec<u32>,
    /// Flow rules.
    pub flow: Vec<u32>,
    /// Resolver rules.
    pub dns: Vec<u32>,
    /// Trusted addresses: records from them raise no findings.
    pub trusted: NetSet,
}

impl Plan {
    /// Compiles a rule set. `trusted` holds trusted IPs/CIDRs (GuardDuty trusted IP lists).
    pub fn new(set: &RuleSet, trusted: &[String]) -> Plan {
        let mut p = Plan::default();
        let mut by_id: HashMap<String, u32> = HashMap::new();
        for r in &set.rules {
            if let Body::Detection(d) = &r.body {
                let i = p.rules.len() as u32;
                by_id.insert(r.id.clone(), i);
                match r.kind {
                    LogKind::CloudTrail => match required_values(d, "eventName") {
                        Some(names) if !names.is_empty() => {
                            for n in names {
                                p.ct_by_name.entry(n.to_lowercase()).or_default().push(i);
                            }
                        }
                        _ => p.ct_always.push(i),
                    },
                    LogKind::VpcFlow => p.flow.push(i),
                    LogKind::Dns => p.dns.push(i),
                }
                let mut det = d.clone();
                if r.kind == LogKind::CloudTrail {
                    // The index already checked the API name, and nearly every rule pins the
                    // service: test the narrowing items first so that most records fail fast.
                    for sel in &mut det.selections {
                        for g in &mut sel.groups {
                            g.sort_by_key(|item| {
                                matches!(item.field.as_deref(), Some("eventName" | "eventSource"))
                            });
                        }
                    }
                }
                let refs = det
                    .selections
                    .iter()
                    .map(|s| {
                        s.groups
                            .iter()
                            .map(|g| {
                                g.iter()
                                    .map(|it| FieldRef::resolve(r.kind, it.field.as_deref()))
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                p.rules.push(DetectionRule {
                    rule: r.clone(),
                    det,
                    refs,
                    feeds: Vec::new(),
                });
            }
        }
        for r in &set.rules {
            if let Body::Correlation(c) = &r.body {
                let ci = p.correlations.len() as u32;
                for (pos, rid) in c.rules.iter().enumerate() {
                    if let Some(&di) = by_id.get(rid) {
                        p.rules[di as usize].feeds.push((ci, pos as u32));
                    }
                }
                p.correlations.push(CorrelationRule {
                    rule: r.clone(),
                    corr: c.clone(),
                });
            }
        }
        for v in p.ct_by_name.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let nets: Vec<Net> = trusted.iter().filter_map(|t| Net::parse(t)).collect();
        p.trusted = NetSet::new(&nets);
        p
    }

    /// Rules of a kind (for counting).
    pub fn count(&self, kind: LogKind) -> usize {
        self.rules.iter().filter(|r| r.rule.kind == kind).count()
    }

    /// A human description of the plan (`trailhound rules explain`).
    pub fn explain(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "plan: {} detection rules, {} correlations, {} trusted networks",
            self.rules.len(),
            self.correlations.len(),
            self.trusted.len()
        );
        let _ = writeln!(
            o,
            "cloudtrail: {} rules; indexed by eventName: {} names -> {} rule slots; always evaluated: {}",
            self.count(LogKind::CloudTrail),
            self.ct_by_name.len(),
            self.ct_by_name.values().map(Vec::len).sum::<usize>(),
            self.ct_always.len()
        );
        let _ = writeln!(o, "vpcflow: {} rules", self.flow.len());
        let _ = writeln!(o, "dns: {} rules", self.dns.len());
        for (i, r) in self.rules.iter().enumerate() {
            let kind = r.rule.kind;
            let index = if kind == LogKind::CloudTrail {
                let names: Vec<&String> = self
                    .ct_by_name
                    .iter()
                    .filter(|(_, v)| v.contains(&(i as u32)))
                    .map(|(k, _)| k)
                    .collect();
                if names.is_empty() {
                    "always".to_string()
                } else {
                    format!("eventName in {}", names.len())
                }
            } else {
                "always".to_string()
            };
            let _ = writeln!(
                o,
                "\n[{kind}] {} ({})\n  file: {}:{}\n  finding: {} severity {}{}\n  index: {index}\n  fields: {}\n  condition: {:?}",
                r.rule.id,
                r.rule.title,
                r.rule.path,
                r.rule.line,
                r.rule.finding.finding_type,
                r.rule.finding.severity,
                if r.rule.generate {
                    ""
                } else {
                    " (feeds correlations only)"
                },
                fields(&r.det).join(", "),
                r.det.condition
            );
            for s in &r.det.selections {
                for (gi, g) in s.groups.iter().enumerate() {
                    for item in g {
                        let _ = writeln!(
                            o,
                            "  {}[{gi}] {}: {}",
                            s.name,
                            item.field.as_deref().unwrap_or("<keywords>"),
                            item.test.describe()
                        );
                    }
                }
            }
        }
        for c in &self.correlations {
            let _ = writeln!(
                o,
                "\n[{} correlation] {} ({})\n  {:?} over {:?} by {:?} within {} ms, condition {:?}{}",
                c.rule.kind,
                c.rule.id,
                c.rule.title,
                c.corr.kind,
                c.corr.rules,
                c.corr.group_by,
                c.corr.timespan_ms,
                c.corr.condition,
                c.corr
                    .field
                    .as_ref()
                    .map(|f| format!(" on {f}"))
                    .unwrap_or_default()
            );
        }
        o
    }
}
