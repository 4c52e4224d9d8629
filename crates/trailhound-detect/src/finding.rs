//! GuardDuty-style findings: one per (type, account, region, resource), with a count, first and
//! last seen, a few sample events and a stable id.
//!
//! Partial aggregates from different threads merge associatively and commutatively (sums, minima,
//! maxima, and the `MAX_SAMPLES` smallest samples), so the findings of a scan do not depend on the
//! thread count or the order objects were read.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};

use serde::Serialize;
use sha2::{Digest, Sha256};
use trailhound_model::time::{EpochMillis, format_millis, with_millis_text};

/// Samples kept per finding.
pub const MAX_SAMPLES: usize = 5;

/// What a finding is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Resource {
    /// `AccessKey`, `IAMPrincipal`, `Instance`, `NetworkInterface`, `S3Bucket`, `Account`…
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource's id.
    pub id: String,
}

/// Structured facts of one sample event, for outputs that carry them as fields (ASFF `Action`
/// and `Network`, OCSF evidences).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Evidence {
    /// CloudTrail event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// CloudTrail API (`eventName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// CloudTrail service (`eventSource`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// CloudTrail caller address (`sourceIPAddress`; may be a service name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// CloudTrail user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Flow/resolver source address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_addr: Option<String>,
    /// Flow source port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// Flow destination address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_addr: Option<String>,
    /// Flow destination port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// Flow IANA protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// Flow action (`ACCEPT`/`REJECT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Resolver query name (no trailing dot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Resolver query type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_type: Option<String>,
}

/// One sample event: a line for people and its facts for machines. Ordered by the text, so the
/// kept samples are the same whatever order events arrive in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sample {
    /// One line (event id and API, flow tuple, query).
    pub text: String,
    /// The facts.
    pub evidence: Evidence,
}

/// The aggregation key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// Finding type.
    pub finding_type: String,
    /// Account id ("" when unknown).
    pub account: String,
    /// Region ("" when unknown).
    pub region: String,
    /// Resource.
    pub resource: Resource,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        KeyRef {
            finding_type: &self.finding_type,
            account: &self.account,
            region: &self.region,
            kind: &self.resource.kind,
            id: &self.resource.id,
        }
        .hash(h);
    }
}

/// A borrowed [`Key`], for looking up without allocating on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef<'a> {
    /// Finding type.
    pub finding_type: &'a str,
    /// Account.
    pub account: &'a str,
    /// Region.
    pub region: &'a str,
    /// Resource type.
    pub kind: &'a str,
    /// Resource id.
    pub id: &'a str,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.finding_type.hash(h);
        self.account.hash(h);
        self.region.hash(h);
        self.kind.hash(h);
        self.id.hash(h);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        self.finding_type == k.finding_type
            && self.account == k.account
            && self.region == k.region
            && self.kind == k.resource.kind
            && self.id == k.resource.id
    }
}

impl KeyRef<'_> {
    /// The owned key.
    pub fn to_key(&self) -> Key {
        Key {
            finding_type: self.finding_type.to_owned(),
            account: self.account.to_owned(),
            region: self.region.to_owned(),
            resource: Resource {
                kind: self.kind.to_owned(),
                id: self.id.to_owned(),
            },
        }
    }
}

/// A partial aggregate.
#[derive(Debug, Clone)]
pub struct Agg {
    /// Index of the rule that raised it (in the plan): of several rules raising the same finding
    /// (a type's variable severity is written as rules of different severity), the most severe,
    /// then the first.
    pub rule: u32,
    /// That rule's severity.
    pub severity: f64,
    /// Matching events.
    pub count: u64,
    /// Earliest event time.
    pub first: i64,
    /// Latest event time.
    pub last: i64,
    /// The smallest (time, sample) pairs.
    pub samples: Vec<(i64, Sample)>,
}

impl Agg {
    /// A fresh aggregate of one event.
    pub fn one(rule: u32, severity: f64, t: i64, sample: Sample) -> Self {
        Agg {
            rule,
            severity,
            count: 1,
            first: t,
            last: t,
            samples: vec![(t, sample)],
        }
    }

    /// Folds another aggregate of the same key in.
    pub fn merge(&mut self, o: Agg) {
        self.take_rule(o.rule, o.severity);
        self.count += o.count;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.samples.extend(o.samples);
        self.samples.sort();
        self.samples.dedup();
        self.samples.truncate(MAX_SAMPLES);
    }

    /// Keeps the more severe of the two rules (the lower index on a tie): the same whatever order
    /// partial aggregates merge in.
    pub fn take_rule(&mut self, rule: u32, severity: f64) {
        if severity > self.severity || (severity == self.severity && rule < self.rule) {
            self.rule = rule;
            self.severity = severity;
        }
    }

    /// Adds one event.
    pub fn add(&mut self, t: i64, sample: impl FnOnce() -> Sample) {
        self.count += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        // Keep the MAX_SAMPLES smallest (time, sample) pairs: the same rule as `merge`, so the
        // kept samples never depend on the order events arrive in.
        let full = self.samples.len() >= MAX_SAMPLES;
        if full && self.samples.last().is_some_and(|(lt, _)| t > *lt) {
            return;
        }
        let s = sample();
        if full
            && self
                .samples
                .last()
                .is_some_and(|(lt, ls)| (t, &s) >= (*lt, ls))
        {
            return;
        }
        if !self.samples.iter().any(|(st, ss)| *st == t && *ss == s) {
            self.samples.push((t, s));
            self.samples.sort();
            self.samples.truncate(MAX_SAMPLES);
        }
    }
}

/// Merges partial aggregates.
pub fn merge_maps(mut a: HashMap<Key, Agg>, b: HashMap<Key, Agg>) -> HashMap<Key, Agg> {
    if a.len() < b.len() {
        return merge_maps(b, a);
    }
    merge_keyed(&mut a, b, Agg::merge);
    a
}

/// Folds `theirs` into `mine` key by key, merging the values both hold with `merge`.
pub(crate) fn merge_keyed<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(
    mine: &mut HashMap<K, V, S>,
    theirs: impl IntoIterator<Item = (K, V)>,
    merge: impl Fn(&mut V, V),
) {
    for (k, v) in theirs {
        match mine.get_mut(&k) {
            Some(x) => merge(x, v),
            None => {
                mine.insert(k, v);
            }
        }
    }
}

/// A finding as written in JSON lines. `Default` (empty texts, zero times) is for building
/// findings in tests and examples field by field.
///
/// The texts that come from the rule (title, description, rule id and path, ATT&CK tags) are
/// shared by all of the rule's findings: a scan that raises 100,000 findings of one rule holds its
/// description once, not 100,000 times, and the writers, which put runs of findings of one rule
/// together, tell two of them the same by pointer instead of comparing their bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id: a hash of (type, account, region, resource).
    pub id: String,
    /// GuardDuty-style type, e.g. `Stealth:IAMUser/CloudTrailLoggingDisabled`.
    #[serde(rename = "type")]
    pub finding_type: String,
    /// 1.0–8.9.
    pub severity: f64,
    /// `Low`, `Medium` or `High`.
    pub severity_label: &'static str,
    /// Title (the rule's text, shared by all its findings).
    pub title: Arc<str>,
    /// What triggers it and what to do (shared like the title).
    pub description: Arc<str>,
    /// Account.
    pub account: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// The affected resource.
    pub resource: Resource,
    /// Matching events.
    pub count: u64,
    /// Earliest event (epoch ms; written as RFC 3339 with milliseconds, UTC, e.g.
    /// `2024-01-01T00:00:00.000Z`).
    #[serde(serialize_with = "rfc3339")]
    pub first_seen: EpochMillis,
    /// Latest event (the same).
    #[serde(serialize_with = "rfc3339")]
    pub last_seen: EpochMillis,
    /// The rule's id (Sigma's UUID where it has one).
    pub rule_id: Arc<str>,
    /// The rule's file.
    pub rule_path: Arc<str>,
    /// MITRE ATT&CK tags.
    pub attack: Arc<[String]>,
    /// A few events (event id, flow tuple, query), earliest first.
    pub samples: Vec<String>,
    /// The same events' facts, in the same order.
    pub evidence: Vec<Evidence>,
}

/// The stable id of a finding key.
pub fn finding_id(k: &Key) -> String {
    let mut h = Sha256::new();
    for part in [
        &k.finding_type,
        &k.account,
        &k.region,
        &k.resource.kind,
        &k.resource.id,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // The first 16 bytes in lower-case hex, put together without a `format!` per byte (a scan
    // with 100,000 findings made 1.6 million small strings here).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for &b in h.finalize().iter().take(16) {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 15)]));
    }
    id
}

/// A finding time as its text (see [`Finding::first_seen`]).
pub fn ts(t: EpochMillis) -> String {
    format_millis(t)
}

fn rfc3339<S: serde::Serializer>(t: &EpochMillis, s: S) -> Result<S::Ok, S::Error> {
    with_millis_text(*t, |text| s.serialize_str(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_ids_are_the_hex_of_the_keys_hash() {
        for (ty, account, id) in [
            ("Recon:EC2/Portscan", "111122223333", "i-0abc"),
            (
                "Stealth:IAMUser/CloudTrailLoggingDisabled",
                "",
                "AKIA\u{e9}",
            ),
        ] {
            let k = Key {
                finding_type: ty.into(),
                account: account.into(),
                region: "eu-west-1".into(),
                resource: Resource {
                    kind: "Instance".into(),
                    id: id.into(),
                },
            };
            let mut h = Sha256::new();
            for part in [ty, account, "eu-west-1", "Instance", id] {
                h.update(part.as_bytes());
                h.update([0u8]);
            }
            let want: String = h.finalize()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(finding_id(&k), want);
        }
    }

    #[test]
    fn samples_do_not_depend_on_arrival_order() {
        let smp = |s: String| Sample {
            text: s,
            evidence: Evidence::default(),
        };
        let events: Vec<(i64, Sample)> = (0..12)
            .map(|i| (i % 3, smp(format!("e{}", 11 - i))))
            .collect();
        let build = |order: &[usize]| {
            let (t0, s0) = &events[order[0]];
            let mut a = Agg::one(0, 1.0, *t0, s0.clone());
            for &i in &order[1..] {
                a.add(events[i].0, || events[i].1.clone());
            }
            a.samples
        };
        let forward: Vec<usize> = (0..12).collect();
        let backward: Vec<usize> = (0..12).rev().collect();
        assert_eq!(build(&forward), build(&backward));
        // And the same as merging two halves.
        let mut a = Agg::one(0, 1.0, events[0].0, events[0].1.clone());
        for (t, s) in &events[1..6] {
            a.add(*t, || s.clone());
        }
        let mut b = Agg::one(0, 1.0, events[6].0, events[6].1.clone());
        for (t, s) in &events[7..] {
            b.add(*t, || s.clone());
        }
        a.merge(b);
        assert_eq!(a.samples, build(&forward));
        assert_eq!(a.count, 12);
    }
}
