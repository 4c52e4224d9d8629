//! The compiled plan: which rules a record of each kind can meet, with CloudTrail rules indexed by
//! `eventName` so a record is tested only against rules that could match it.

use std::fmt::Write as _;

use hashbrown::HashMap;
use rayon::prelude::*;

use trailhound_model::{LogKind, PerKind};

use crate::fields::FieldRef;
use trailhound_rules::detection::{Detection, fields, required_values};
use trailhound_rules::matcher::{Net, NetSet};
use trailhound_rules::rule::{CondOp, Correlation};
use trailhound_rules::{Body, Rule, RuleSet};

/// A shared first test for rules that no API name pins down: one pass over one field of the
/// record finds the few rules that can still match (the others are not evaluated at all).
#[derive(Debug, Clone)]
pub enum Prefilter {
    /// Address lists: the rules whose required item is a CIDR test on this field.
    Cidr {
        /// The field.
        field: FieldRef,
        /// Each rule's networks.
        sets: Vec<(trailhound_rules::matcher::NetSet, u32)>,
    },
    /// Substrings: one searcher over every rule's patterns. The rules fold case (a `|cased` set is
    /// not prefiltered): their patterns are stored lower-cased, and the value is lower-cased as
    /// their own tests lower-case it.
    Substr {
        /// The field.
        field: FieldRef,
        /// The searcher.
        subs: trailhound_rules::matcher::Substrings,
        /// The rule of each pattern.
        rule_of: Vec<u32>,
    },
    /// Plain equalities (lower-cased): value → rules.
    Eq {
        /// The field.
        field: FieldRef,
        /// Value → rules.
        map: HashMap<String, Vec<u32>>,
    },
}

/// The item groups every match of the detection must satisfy, in condition order: the one group
/// of each single-group selection the condition reaches through `and` alone (an `or` or `not`
/// below that makes nothing required). The indexes and prefilters pick their item from these.
fn required_groups(det: &Detection) -> Vec<&[trailhound_rules::detection::Item]> {
    use trailhound_rules::condition::Cond;
    fn walk<'d>(
        det: &'d Detection,
        c: &Cond,
        out: &mut Vec<&'d [trailhound_rules::detection::Item]>,
    ) {
        match c {
            Cond::Sel(i) => {
                if let Some([g]) = det.selections.get(*i).map(|s| s.groups.as_slice()) {
                    out.push(g);
                }
            }
            Cond::And(parts) => parts.iter().for_each(|p| walk(det, p, out)),
            Cond::Or(_) | Cond::Not(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(det, &det.condition, &mut out);
    out
}

/// A positive item every match of the detection must satisfy, usable as a prefilter.
fn required_item(det: &Detection) -> Option<&trailhound_rules::detection::Item> {
    use trailhound_rules::detection::Item;
    use trailhound_rules::matcher::Test;
    let usable = |it: &&Item| match &it.test {
        Test::Cidr(_) => it.field.is_some(),
        Test::Str(set) => {
            it.field.is_some()
                && !set.all
                && !set.null_ok
                && !set.cased
                && set
                    .others
                    .iter()
                    .all(|p| matches!(p, trailhound_rules::matcher::StrPat::Contains(_)))
                && set.regex_set.is_none()
                && (set.eq.is_empty() != set.substrings.is_empty())
        }
        _ => false,
    };
    // Prefer fields the model has already parsed (no JSON walk per record), then address lists,
    // then anything usable.
    let typed = |it: &&Item| {
        matches!(
            FieldRef::resolve(LogKind::CloudTrail, it.field.as_deref()),
            FieldRef::Typed(_)
        )
    };
    required_groups(det).into_iter().find_map(|g| {
        g.iter()
            .find(|it| matches!(it.test, Test::Cidr(_)) && typed(it) && usable(it))
            .or_else(|| g.iter().find(|it| typed(it) && usable(it)))
            .or_else(|| {
                g.iter()
                    .find(|it| matches!(it.test, Test::Cidr(_)) && usable(it))
            })
            .or_else(|| g.iter().find(usable))
    })
}

/// Resolved fields, parallel to a detection's selections → groups → items.
pub type Refs<T = FieldRef> = Vec<Vec<Vec<T>>>;

/// `f` of every item of a detection, in the shape of its selections and groups.
fn per_item<T>(
    det: &Detection,
    mut f: impl FnMut(&trailhound_rules::detection::Item) -> T,
) -> Refs<T> {
    det.selections
        .iter()
        .map(|s| {
            s.groups
                .iter()
                .map(|g| g.iter().map(&mut f).collect())
                .collect()
        })
        .collect()
}

/// A detection's items in the order the engine tests them, and each item's signature (equal
/// exactly for items that test the same thing, which then share one result per record).
fn prepare(r: &Rule, d: &Detection) -> (Detection, Refs<String>) {
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
    if r.kind == LogKind::VpcFlow {
        // Typed tests first, address tables last: most records fail on a port or
        // the action before any network lookup.
        for sel in &mut det.selections {
            for g in &mut sel.groups {
                g.sort_by_key(|item| {
                    crate::flowtest::FlowTest::cost(item.field.as_deref(), &item.test)
                });
            }
        }
    }
    let sigs = per_item(&det, |it| {
        format!(
            "{:?}\u{1f}{:?}\u{1f}{}",
            r.kind,
            it.field,
            it.test.signature()
        )
    });
    (det, sigs)
}

/// A detection rule ready to run.
#[derive(Debug, Clone)]
pub struct DetectionRule {
    /// The rule (metadata, tests).
    pub rule: Rule,
    /// Its detection.
    pub det: Detection,
    /// Its fields, resolved for its log kind.
    pub refs: Refs,
    /// Each item's number among the plan's distinct (log kind, field, test) items, in the shape
    /// of [`Self::refs`]: an item that several rules repeat is evaluated once per record.
    pub item_ids: Refs<u32>,
    /// Correlations fed by it (indices into [`Plan::correlations`]), with this rule's position in
    /// each correlation's rule list.
    pub feeds: Vec<(u32, u32)>,
    /// Its finding's resource fields, resolved (see [`ResourceRef`]).
    pub resources: Vec<ResourceRef>,
}

/// A correlation ready to run.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// The rule.
    pub rule: Rule,
    /// Its correlation section.
    pub corr: Correlation,
    /// `first_seen`: the index of the history it judges against (correlations with the same
    /// history rule, group-by, fields, timespan and `max-values` share one, so each event
    /// updates it once).
    pub history: Option<usize>,
    /// The group-by fields, resolved.
    pub group_refs: Vec<FieldRef>,
    /// The `field` of value_count/value_sum, resolved.
    pub field_ref: Option<FieldRef>,
    /// The `fields` of first_seen, resolved.
    pub field_refs: Vec<FieldRef>,
    /// How many distinct values a value_count bucket keeps (see [`distinct_cap`]).
    pub distinct_cap: usize,
    /// Its finding's resource fields, resolved (see [`ResourceRef`]).
    pub resources: Vec<ResourceRef>,
    /// The index of the first correlation whose [`Self::resources`] equal these: correlations
    /// of one class give an event the same head, so a record that feeds several of them (a
    /// flow of UDP to port 443 or 53 feeds two of the pack's DoS rules) has it built once.
    pub resource_class: u32,
    /// The log kinds of the rules that feed it (its own kind if it names none that loaded):
    /// its windows can be closed once no record of these kinds can reach them.
    pub kinds: Vec<LogKind>,
}

impl CorrelationRule {
    /// Its share of a per-kind time (a horizon, what is closed): the earliest of its kinds',
    /// as a record of any of them can reach its windows.
    pub fn earliest(&self, per_kind: &PerKind<i64>) -> i64 {
        self.kinds
            .iter()
            .map(|&k| per_kind.get(k))
            .min()
            .unwrap_or(i64::MIN)
    }
}

/// A finding's resource field (`finding.resource` of a rule), resolved once: every finding hit
/// and every correlation bucket's first event reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// The resource type (`Instance`, `AccessKey`, …).
    pub kind: String,
    /// The field holding its id.
    pub field: FieldRef,
}

fn resource_refs(r: &Rule, kind: LogKind) -> Vec<ResourceRef> {
    r.finding
        .resources
        .iter()
        .map(|s| ResourceRef {
            kind: s.kind.clone(),
            field: FieldRef::resolve(kind, Some(&s.field)),
        })
        .collect()
}

/// How many distinct values a `value_count` correlation needs to keep per bucket: when its
/// condition only asks for *at least* a number (`gte`/`gt`), that number, since a window whose
/// buckets keep `n` values each still reaches `n` exactly when the whole window does (a bucket
/// that stopped at `n` reaches it alone, and without a stopped bucket the union is exact);
/// otherwise [`crate::engine::MAX_DISTINCT`]. A tunnel-volume rule grouping every query by
/// domain then keeps a few hundred hashes per busy domain instead of thousands.
pub fn distinct_cap(c: &Correlation) -> usize {
    let max = crate::engine::MAX_DISTINCT;
    if c.condition.is_empty() {
        return max;
    }
    let mut need = 0usize;
    for (op, v) in &c.condition {
        let n = match op {
            CondOp::Gte if *v >= 0.0 => v.ceil(),
            CondOp::Gt if *v >= 0.0 => v.floor() + 1.0,
            _ => return max,
        };
        need = need.max(n.min(max as f64) as usize);
    }
    need.max(1)
}

/// The whole plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Detection rules.
    pub rules: Vec<DetectionRule>,
    /// Correlations.
    pub correlations: Vec<CorrelationRule>,
    /// Number of distinct `first_seen` histories.
    pub histories: usize,
    /// Number of distinct detection items (see [`DetectionRule::item_ids`]).
    pub items: usize,
    /// CloudTrail rules by lower-cased `eventName`.
    pub ct_by_name: HashMap<String, Vec<u32>>,
    /// CloudTrail rules that any record may meet.
    pub ct_always: Vec<u32>,
    /// Prefilters for CloudTrail rules that no API name pins down.
    pub ct_prefilters: Vec<Prefilter>,
    /// Flow rules.
    pub flow: Vec<u32>,
    /// Flow rules indexed by a field whose value they require (see [`FLOW_INDEX_FIELDS`]): per
    /// field, the rules by lower-cased value. Each flow rule is in one index or in
    /// [`Plan::flow_always`].
    pub flow_index: Vec<(FieldRef, HashMap<String, Vec<u32>>)>,
    /// Flow rules no index field pins down.
    pub flow_always: Vec<u32>,
    /// [`Plan::flow_index`] by the columns' typed numbers, when every indexed value is a
    /// canonical number (it then replaces the text lookup; see [`crate::flowtest`]).
    pub flow_index_typed: Option<TypedFlowIndex>,
    /// [`Plan::flow_index_typed`] and [`Plan::flow_always`] as sets of flow rules (when the
    /// index is typed).
    pub flow_masks: Option<FlowMasks>,
    /// Per plan-wide item number, the typed form of a flow item's test, if it has one
    /// ([`crate::flowtest`]).
    pub flow_typed: Vec<Option<crate::flowtest::FlowTest>>,
    /// Per rule (index into [`Plan::rules`]), a flow rule's condition compiled over typed tests,
    /// when all its items have one ([`crate::flowprog`]).
    pub flow_progs: Vec<Option<crate::flowprog::FlowProg>>,
    /// The typed tests [`Plan::flow_progs`] number.
    pub flow_tests: crate::flowprog::FlowTests,
    /// Per plan-wide item number, the form of a resolver `answers.Rdata` equality that the
    /// answers' JSON text can rule out without being read, if it has one ([`crate::rawtest`]).
    pub dns_answers_eq: Vec<Option<crate::rawtest::AnswersEq>>,
    /// Resolver rules.
    pub dns: Vec<u32>,
    /// Resolver rules that require `query_name` to be in (or under) a domain list, by domain: a
    /// record meets only the rules of its name's domains (walked suffix by suffix) and
    /// [`Plan::dns_always`].
    pub dns_by_domain: HashMap<String, Vec<u32>>,
    /// Resolver rules no domain list pins down.
    pub dns_always: Vec<u32>,
    /// Trusted addresses: records from them raise no findings.
    pub trusted: NetSet,
}

/// Flow rules by the typed number of an indexed column ([`Plan::flow_index_typed`]).
pub type TypedFlowIndex = Vec<(trailhound_model::FlowField, HashMap<u64, Vec<u32>>)>;

/// A set of flow rules: bit `i % 64` of word `i / 64` stands for `Plan::flow[i]` (the pack's
/// flow rules fit in the inline words).
pub type FlowRuleSet = smallvec::SmallVec<[u64; 2]>;

/// The typed flow index and the rules no index pins as sets of flow rules ([`FlowRuleSet`]): a
/// record's candidates are the union of its column values' sets and `always`, read out in rule
/// order, with nothing to sort or deduplicate (which had been a twentieth of a flow scan's
/// instructions).
#[derive(Debug, Clone, Default)]
pub struct FlowMasks {
    /// The rules of the record's values, per indexed column.
    pub by_value: Vec<(trailhound_model::FlowField, HashMap<u64, FlowRuleSet>)>,
    /// The rules no index pins.
    pub always: FlowRuleSet,
}

impl FlowMasks {
    /// The sets of `typed` and `always`, over the flow rules `flow` (in rule order).
    fn new(flow: &[u32], typed: &TypedFlowIndex, always: &[u32]) -> FlowMasks {
        let set = |rules: &[u32]| {
            let mut m: FlowRuleSet = smallvec::smallvec![0; flow.len().div_ceil(64)];
            for i in rules.iter().filter_map(|r| flow.binary_search(r).ok()) {
                m[i / 64] |= 1 << (i % 64);
            }
            m
        };
        FlowMasks {
            by_value: typed
                .iter()
                .map(|(f, m)| (*f, m.iter().map(|(v, rs)| (*v, set(rs))).collect()))
                .collect(),
            always: set(always),
        }
    }

    /// Adds set `o` to set `m` (both over the same flow rules).
    pub fn add(m: &mut FlowRuleSet, o: &FlowRuleSet) {
        for (w, b) in m.iter_mut().zip(o) {
            *w |= b;
        }
    }

    /// The flow rules (indices into [`Plan::rules`]) of set `m`, in rule order.
    pub fn rules(flow: &[u32], m: &FlowRuleSet, out: &mut smallvec::SmallVec<[u32; 16]>) {
        for (wi, &w) in m.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                if let Some(&r) = flow.get(wi * 64 + w.trailing_zeros() as usize) {
                    out.push(r);
                }
                w &= w - 1;
            }
        }
    }
}

/// A `query_name|domain` set that every match of the detection needs to match, if any.
fn required_domains(det: &Detection) -> Option<&trailhound_rules::matcher::DomainSet> {
    use trailhound_rules::matcher::Test;
    required_groups(det).into_iter().find_map(|g| {
        g.iter().find_map(|it| match &it.test {
            Test::Domain(set) if it.field.as_deref() == Some("query_name") => Some(set),
            _ => None,
        })
    })
}

/// Flow fields whose required values index the flow rules, most selective first: nearly every
/// flow rule names the destination port or the protocol it is about, and a record then meets
/// only the few rules of its own port and protocol instead of all thirty.
pub const FLOW_INDEX_FIELDS: [&str; 2] = ["dstport", "protocol"];

impl Plan {
    /// Puts each resolver rule whose condition requires a `query_name|domain` item under that
    /// item's domains, else in `dns_always`.
    fn index_dns_rules(&mut self) {
        for &i in &self.dns {
            let det = &self.rules[i as usize].det;
            match required_domains(det) {
                Some(set) => {
                    for d in set.names() {
                        self.dns_by_domain.entry(d.to_owned()).or_default().push(i);
                    }
                }
                None => self.dns_always.push(i),
            }
        }
        for v in self.dns_by_domain.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
    }

    /// Per plan-wide item number, `compile` of each distinct item of the rules of `kind` (each
    /// compiled once, however many rules share it).
    fn compile_items<T: Clone>(
        &self,
        kind: LogKind,
        compile: impl Fn(&FieldRef, &trailhound_rules::matcher::Test) -> Option<T>,
    ) -> Vec<Option<T>> {
        let mut compiled = vec![None; self.items];
        let mut done = vec![false; self.items];
        for r in self.rules.iter().filter(|r| r.rule.kind == kind) {
            let items = r
                .det
                .selections
                .iter()
                .flat_map(|s| s.groups.iter().flatten());
            let refs = r.refs.iter().flatten().flatten();
            let ids = r.item_ids.iter().flatten().flatten();
            for ((it, fr), &id) in items.zip(refs).zip(ids) {
                let id = id as usize;
                if done.get(id) == Some(&false) {
                    done[id] = true;
                    compiled[id] = compile(fr, &it.test);
                }
            }
        }
        compiled
    }

    /// Fills [`Plan::flow_typed`] (the typed form of each distinct flow item) and
    /// [`Plan::dns_answers_eq`] (the resolver items the answers' text can rule out).
    fn compile_shortcuts(&mut self) {
        self.flow_typed = self.compile_items(LogKind::VpcFlow, crate::flowtest::FlowTest::compile);
        self.dns_answers_eq = self.compile_items(LogKind::Dns, crate::rawtest::AnswersEq::compile);
        let mut tests = crate::flowprog::FlowTests::new(self.items);
        self.flow_progs = self
            .rules
            .iter()
            .map(|r| {
                (r.rule.kind == LogKind::VpcFlow)
                    .then(|| crate::flowprog::FlowProg::compile(r, &self.flow_typed, &mut tests))
                    .flatten()
            })
            .collect();
        self.flow_tests = tests;
    }

    /// Puts each flow rule in the index of the first [`FLOW_INDEX_FIELDS`] field whose values
    /// its condition requires, else in `flow_always`.
    fn index_flow_rules(&mut self) {
        let mut index: Vec<(FieldRef, HashMap<String, Vec<u32>>)> = FLOW_INDEX_FIELDS
            .iter()
            .map(|f| (FieldRef::resolve(LogKind::VpcFlow, Some(f)), HashMap::new()))
            .collect();
        for &i in &self.flow {
            let det = &self.rules[i as usize].det;
            let slot = FLOW_INDEX_FIELDS.iter().enumerate().find_map(|(k, f)| {
                required_values(det, f)
                    .filter(|v| !v.is_empty())
                    .map(|v| (k, v))
            });
            match slot {
                Some((k, values)) => {
                    for v in values {
                        index[k].1.entry(v.to_lowercase()).or_default().push(i);
                    }
                }
                None => self.flow_always.push(i),
            }
        }
        for (_, m) in &mut index {
            for v in m.values_mut() {
                v.sort_unstable();
                v.dedup();
            }
        }
        index.retain(|(_, m)| !m.is_empty());
        self.flow_index_typed = index
            .iter()
            .map(|(fr, m)| {
                let FieldRef::Flow(field, _) = fr else {
                    return None;
                };
                let typed = m
                    .iter()
                    .map(|(k, rs)| {
                        let n: u64 = k.parse().ok()?;
                        (n.to_string() == *k).then(|| (n, rs.clone()))
                    })
                    .collect::<Option<HashMap<u64, Vec<u32>>>>()?;
                Some((*field, typed))
            })
            .collect();
        self.flow_index = index;
        self.flow_masks = self
            .flow_index_typed
            .as_ref()
            .map(|t| FlowMasks::new(&self.flow, t, &self.flow_always));
    }

    /// Compiles a rule set. `trusted` holds trusted IPs/CIDRs (GuardDuty trusted IP lists).
    pub fn new(set: &RuleSet, trusted: &[String]) -> Plan {
        let mut p = Plan::default();
        let mut by_id: HashMap<String, u32> = HashMap::new();
        let mut items: HashMap<String, u32> = HashMap::new();
        let mut pending_ct: Vec<u32> = Vec::new();
        // Each detection's items in evaluation order with their signatures, in parallel: the
        // signature of a threat list's network test lists every network.
        let prepared: Vec<_> = set
            .rules
            .par_iter()
            .map(|r| match &r.body {
                Body::Detection(d) => Some(prepare(r, d)),
                Body::Correlation(_) => None,
            })
            .collect();
        for (r, prepared) in set.rules.iter().zip(prepared) {
            if let (Body::Detection(d), Some((det, sigs))) = (&r.body, prepared) {
                let i = p.rules.len() as u32;
                by_id.insert(r.id.clone(), i);
                match r.kind {
                    LogKind::CloudTrail => match required_values(d, "eventName") {
                        Some(names) if !names.is_empty() => {
                            for n in names {
                                p.ct_by_name.entry(n.to_lowercase()).or_default().push(i);
                            }
                        }
                        _ => pending_ct.push(i),
                    },
                    LogKind::VpcFlow => p.flow.push(i),
                    LogKind::Dns => p.dns.push(i),
                }
                let refs = per_item(&det, |it| FieldRef::resolve(r.kind, it.field.as_deref()));
                let mut id = |sig: String| {
                    let n = items.len() as u32;
                    *items.entry(sig).or_insert(n)
                };
                let item_ids: Refs<u32> = sigs
                    .into_iter()
                    .map(|s| {
                        s.into_iter()
                            .map(|g| g.into_iter().map(&mut id).collect())
                            .collect()
                    })
                    .collect();
                p.rules.push(DetectionRule {
                    rule: r.clone(),
                    det,
                    refs,
                    item_ids,
                    feeds: Vec::new(),
                    resources: resource_refs(r, r.kind),
                });
            }
        }
        p.items = items.len();
        p.compile_shortcuts();
        p.build_prefilters(pending_ct);
        // What a history is: its rule, group-by and signals, and the learning period and the
        // number of values per signal it keeps (see `Detector::close_windows`).
        type HistoryKey = (String, Vec<String>, Vec<String>, i64, usize);
        let mut histories: std::collections::HashMap<HistoryKey, usize> =
            std::collections::HashMap::new();
        for r in &set.rules {
            if let Body::Correlation(c) = &r.body {
                let ci = p.correlations.len() as u32;
                let mut history = None;
                let mut shared = false;
                if c.kind == trailhound_rules::rule::CorrelationKind::FirstSeen {
                    let key = (
                        c.rules[0].clone(),
                        c.group_by.clone(),
                        c.fields.clone(),
                        c.timespan_ms,
                        c.max_values,
                    );
                    let n = histories.len();
                    let h = *histories.entry(key).or_insert(n);
                    shared = h < n;
                    history = Some(h);
                    p.histories = p.histories.max(h + 1);
                }
                for (pos, rid) in c.rules.iter().enumerate() {
                    // A `first_seen` history is fed by every position (position 0 only learns;
                    // the others learn and are judged), so position 0 is left out where the
                    // history is another correlation's already, or where its rule also feeds a
                    // later position of this one (`rules: [r, r]`, "anything new r does"):
                    // fed twice, each event would update the history twice.
                    if pos == 0 && (shared || (history.is_some() && c.rules[1..].contains(rid))) {
                        continue;
                    }
                    if let Some(&di) = by_id.get(rid) {
                        p.rules[di as usize].feeds.push((ci, pos as u32));
                    }
                }
                let kind = c
                    .rules
                    .iter()
                    .find_map(|rid| by_id.get(rid).map(|&di| p.rules[di as usize].rule.kind))
                    .unwrap_or(r.kind);
                let mut kinds: Vec<LogKind> = c
                    .rules
                    .iter()
                    .filter_map(|rid| by_id.get(rid).map(|&di| p.rules[di as usize].rule.kind))
                    .collect();
                if kinds.is_empty() {
                    kinds.push(r.kind);
                }
                kinds.sort_unstable();
                kinds.dedup();
                let resolve = |f: &String| FieldRef::resolve(kind, Some(f));
                p.correlations.push(CorrelationRule {
                    rule: r.clone(),
                    corr: c.clone(),
                    history,
                    group_refs: c.group_by.iter().map(resolve).collect(),
                    field_ref: c.field.as_ref().map(resolve),
                    field_refs: c.fields.iter().map(resolve).collect(),
                    distinct_cap: distinct_cap(c),
                    resources: resource_refs(r, kind),
                    resource_class: 0,
                    kinds,
                });
            }
        }
        for v in p.ct_by_name.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        // A pack names few distinct resource lists: each correlation is compared with those.
        let mut classes: Vec<(Vec<ResourceRef>, u32)> = Vec::new();
        for (i, c) in p.correlations.iter_mut().enumerate() {
            c.resource_class = match classes.iter().find(|(r, _)| *r == c.resources) {
                Some((_, k)) => *k,
                None => {
                    classes.push((c.resources.clone(), i as u32));
                    i as u32
                }
            };
        }
        p.index_flow_rules();
        p.index_dns_rules();
        let nets: Vec<Net> = trusted.iter().filter_map(|t| Net::parse(t)).collect();
        p.trusted = NetSet::new(&nets);
        p
    }

    fn build_prefilters(&mut self, pending: Vec<u32>) {
        use trailhound_rules::matcher::Test;
        let mut cidr: Vec<(String, Vec<(trailhound_rules::matcher::NetSet, u32)>)> = Vec::new();
        let mut substr: Vec<(String, Vec<(String, u32)>)> = Vec::new();
        let mut eq: Vec<(String, HashMap<String, Vec<u32>>)> = Vec::new();
        for i in pending {
            let Some(item) = required_item(&self.rules[i as usize].det) else {
                self.ct_always.push(i);
                continue;
            };
            let field = item.field.clone().unwrap_or_default();
            match &item.test {
                Test::Cidr(set) => match cidr.iter_mut().find(|(f, _)| *f == field) {
                    Some((_, v)) => v.push((set.clone(), i)),
                    None => cidr.push((field, vec![(set.clone(), i)])),
                },
                Test::Str(set) if !set.substrings.is_empty() => {
                    let pats: Vec<(String, u32)> =
                        set.substrings.iter().map(|p| (p.clone(), i)).collect();
                    match substr.iter_mut().find(|(f, _)| *f == field) {
                        Some((_, v)) => v.extend(pats),
                        None => substr.push((field, pats)),
                    }
                }
                Test::Str(set) => {
                    let entry = match eq.iter_mut().position(|(f, _)| *f == field) {
                        Some(k) => k,
                        None => {
                            eq.push((field, HashMap::new()));
                            eq.len() - 1
                        }
                    };
                    for v in &set.eq {
                        entry_push(&mut eq[entry].1, v, i);
                    }
                }
                _ => self.ct_always.push(i),
            }
        }
        fn entry_push(m: &mut HashMap<String, Vec<u32>>, v: &str, i: u32) {
            m.entry(v.to_owned()).or_default().push(i);
        }
        for (field, sets) in cidr {
            self.ct_prefilters.push(Prefilter::Cidr {
                field: FieldRef::resolve(LogKind::CloudTrail, Some(&field)),
                sets,
            });
        }
        for (field, pats) in substr {
            let (texts, rule_of): (Vec<String>, Vec<u32>) = pats.into_iter().unzip();
            match trailhound_rules::matcher::Substrings::new(&texts) {
                Ok(subs) => self.ct_prefilters.push(Prefilter::Substr {
                    field: FieldRef::resolve(LogKind::CloudTrail, Some(&field)),
                    subs,
                    rule_of,
                }),
                Err(_) => self.ct_always.extend(rule_of),
            }
        }
        for (field, map) in eq {
            self.ct_prefilters.push(Prefilter::Eq {
                field: FieldRef::resolve(LogKind::CloudTrail, Some(&field)),
                map,
            });
        }
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
            "cloudtrail: {} rules; indexed by eventName: {} names -> {} rule slots; prefiltered: {} (on {} fields); always evaluated: {}",
            self.count(LogKind::CloudTrail),
            self.ct_by_name.len(),
            self.ct_by_name.values().map(Vec::len).sum::<usize>(),
            self.ct_prefilters
                .iter()
                .map(|p| match p {
                    Prefilter::Cidr { sets, .. } => sets.len(),
                    Prefilter::Substr { rule_of, .. } => {
                        let mut r = rule_of.clone();
                        r.sort_unstable();
                        r.dedup();
                        r.len()
                    }
                    Prefilter::Eq { map, .. } => {
                        let mut r: Vec<u32> = map.values().flatten().copied().collect();
                        r.sort_unstable();
                        r.dedup();
                        r.len()
                    }
                })
                .sum::<usize>(),
            self.ct_prefilters.len(),
            self.ct_always.len()
        );
        let _ = writeln!(
            o,
            "vpcflow: {} rules ({} indexed by {}, {} for every record; {} compiled to {} typed tests)",
            self.flow.len(),
            self.flow.len() - self.flow_always.len(),
            FLOW_INDEX_FIELDS.join("/"),
            self.flow_always.len(),
            self.flow_progs.iter().flatten().count(),
            self.flow_tests.len()
        );
        let _ = writeln!(
            o,
            "dns: {} rules ({} indexed by query_name domain, {} for every record)",
            self.dns.len(),
            self.dns.len() - self.dns_always.len(),
            self.dns_always.len()
        );
        for (i, r) in self.rules.iter().enumerate() {
            let kind = r.rule.kind;
            let index = if kind == LogKind::CloudTrail {
                let names: Vec<&String> = self
                    .ct_by_name
                    .iter()
                    .filter(|(_, v)| v.contains(&(i as u32)))
                    .map(|(k, _)| k)
                    .collect();
                let prefilter = self.ct_prefilters.iter().find_map(|p| {
                    let (field, has) = match p {
                        Prefilter::Cidr { field, sets } => {
                            (field, sets.iter().any(|(_, r)| *r == i as u32))
                        }
                        Prefilter::Substr { field, rule_of, .. } => {
                            (field, rule_of.contains(&(i as u32)))
                        }
                        Prefilter::Eq { field, map } => {
                            (field, map.values().any(|v| v.contains(&(i as u32))))
                        }
                    };
                    has.then(|| format!("prefilter on {field:?}"))
                });
                match (names.is_empty(), prefilter) {
                    (false, _) => format!("eventName in {}", names.len()),
                    (true, Some(p)) => p,
                    (true, None) => "always".to_string(),
                }
            } else if kind == LogKind::VpcFlow {
                // The column values that pin the rule (the typed index, or the text one).
                let i = i as u32;
                // (column, how many of its values pin the rule)
                let pins: Vec<(&str, usize)> = match &self.flow_index_typed {
                    Some(t) => t
                        .iter()
                        .map(|(f, m)| (f.name(), m.values().filter(|v| v.contains(&i)).count()))
                        .collect(),
                    None => self
                        .flow_index
                        .iter()
                        .map(|(f, m)| {
                            let name = match f {
                                FieldRef::Flow(field, _) => field.name(),
                                _ => "a column",
                            };
                            (name, m.values().filter(|v| v.contains(&i)).count())
                        })
                        .collect(),
                };
                let by: Vec<String> = pins
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(name, n)| format!("{name} in {n}"))
                    .collect();
                if by.is_empty() {
                    "always".to_string()
                } else {
                    by.join(", ")
                }
            } else {
                let n = self
                    .dns_by_domain
                    .values()
                    .filter(|v| v.contains(&(i as u32)))
                    .count();
                if n > 0 {
                    format!("query_name domain in {n}")
                } else {
                    "always".to_string()
                }
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
                match (&c.corr.field, c.history) {
                    (Some(f), _) => format!(" on {f}"),
                    (None, Some(h)) => format!(
                        ", signals {:?}, history {h}, at most {} values per signal",
                        c.corr.fields, c.corr.max_values
                    ),
                    (None, None) => String::new(),
                }
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corr(condition: &[(CondOp, f64)]) -> Correlation {
        Correlation {
            kind: trailhound_rules::rule::CorrelationKind::ValueCount,
            rules: vec!["a".into()],
            group_by: vec!["x".into()],
            timespan_ms: 600_000,
            condition: condition.to_vec(),
            field: Some("y".into()),
            fields: vec![],
            max_values: trailhound_rules::rule::DEFAULT_MAX_VALUES,
        }
    }

    #[test]
    fn distinct_values_kept_up_to_the_threshold() {
        assert_eq!(distinct_cap(&corr(&[(CondOp::Gte, 200.0)])), 200);
        assert_eq!(distinct_cap(&corr(&[(CondOp::Gt, 9.0)])), 10);
        assert_eq!(distinct_cap(&corr(&[(CondOp::Gte, 2.5)])), 3);
        // An upper bound needs the exact count (up to the engine's limit).
        assert_eq!(
            distinct_cap(&corr(&[(CondOp::Gte, 5.0), (CondOp::Lte, 100.0)])),
            crate::engine::MAX_DISTINCT
        );
        assert_eq!(distinct_cap(&corr(&[])), crate::engine::MAX_DISTINCT);
    }

    fn bundled_plan() -> Plan {
        let (set, _) = trailhound_rules::load(&trailhound_rules::LoadOptions {
            bundled: true,
            ..Default::default()
        });
        Plan::new(&set, &[])
    }

    #[test]
    fn correlations_naming_equal_resources_share_a_class() {
        let plan = bundled_plan();
        let cs = &plan.correlations;
        assert!(cs.len() > 2);
        for (i, c) in cs.iter().enumerate() {
            let k = c.resource_class as usize;
            // The class is the first correlation with these resources.
            assert!(k <= i);
            assert_eq!(cs[k].resources, c.resources, "{}", c.rule.id);
            assert!(cs[..k].iter().all(|o| o.resources != c.resources));
        }
        // The pack's CloudTrail and flow correlations name different resources.
        let class = |id: &str| {
            cs.iter()
                .find(|c| &*c.rule.id == id)
                .map(|c| c.resource_class)
                .expect("a bundled correlation")
        };
        assert_eq!(class("th-flow-0010"), class("th-flow-0011"));
        assert_ne!(class("th-flow-0010"), class("th-ct-0033"));
    }

    #[test]
    fn explain_names_each_rules_index() {
        let text = bundled_plan().explain();
        // The index line of one rule, by its id.
        let index_of = |id: &str| {
            let at = text.find(&format!("] {id} (")).expect("the rule is listed");
            text[at..]
                .lines()
                .find_map(|l| l.trim().strip_prefix("index: "))
                .map(str::to_owned)
        };
        assert_eq!(index_of("th-ct-0001").as_deref(), Some("eventName in 2"));
        assert_eq!(
            index_of("th-flow-ssh-connection").as_deref(),
            Some("dstport in 1")
        );
        assert_eq!(
            index_of("th-flow-dos-tcp").as_deref(),
            Some("protocol in 1")
        );
        assert_eq!(index_of("th-flow-0003").as_deref(), Some("always"));
        assert!(
            index_of("th-dns-0005").is_some_and(|s| s.starts_with("query_name domain in ")),
            "{:?}",
            index_of("th-dns-0005")
        );
        assert_eq!(index_of("th-dns-0004").as_deref(), Some("always"));
    }

    #[test]
    fn every_flow_rule_is_indexed_or_always_met() {
        let p = bundled_plan();
        let mut seen: Vec<u32> = p.flow_always.clone();
        for (_, m) in &p.flow_index {
            for rules in m.values() {
                seen.extend(rules);
            }
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen, p.flow,
            "each flow rule is reachable through the index or always"
        );
        // The SSH base rule pins port 22 (its protocol too, but the port is asked first).
        let ssh = p
            .rules
            .iter()
            .position(|r| r.rule.id == "th-flow-ssh-connection")
            .map(|i| i as u32);
        let by_port = &p.flow_index[0];
        assert_eq!(
            by_port.0,
            FieldRef::resolve(LogKind::VpcFlow, Some("dstport"))
        );
        assert!(ssh.is_some_and(|i| by_port.1.get("22").is_some_and(|v| v.contains(&i))));
        assert!(ssh.is_some_and(|i| !p.flow_always.contains(&i)));
        // A threat-list rule pins neither.
        let tor = p
            .rules
            .iter()
            .position(|r| r.rule.id == "th-flow-0003")
            .map(|i| i as u32);
        assert!(tor.is_some_and(|i| p.flow_always.contains(&i)));
    }

    #[test]
    fn flow_rule_sets_span_several_words() {
        // 150 flow rules (every other plan rule): sets of three words.
        let flow: Vec<u32> = (0..150).map(|i| i * 2).collect();
        let port_rules: Vec<u32> = vec![0, 126, 128, 130, 254, 298];
        let typed: TypedFlowIndex = vec![(
            trailhound_model::FlowField::Dstport,
            HashMap::from([(22, port_rules.clone())]),
        )];
        let always: Vec<u32> = vec![2, 128, 200];
        let masks = FlowMasks::new(&flow, &typed, &always);
        assert_eq!(masks.always.len(), 3);
        let mut m = masks.always.clone();
        FlowMasks::add(&mut m, &masks.by_value[0].1[&22]);
        let mut got = smallvec::SmallVec::new();
        FlowMasks::rules(&flow, &m, &mut got);
        assert_eq!(got.as_slice(), [0, 2, 126, 128, 130, 200, 254, 298]);
    }

    #[test]
    fn flow_rule_sets_give_the_index_lists_and_always_in_rule_order() {
        let p = bundled_plan();
        let masks = p.flow_masks.as_ref().expect("the typed index as rule sets");
        let typed = p.flow_index_typed.as_ref().expect("typed flow index");
        // Every indexed number of each column, numbers no rule names, and no value.
        let mut values: Vec<Option<u64>> = vec![None, Some(0), Some(1), Some(65_535), Some(7)];
        for (_, m) in typed {
            values.extend(m.keys().map(|&n| Some(n)));
        }
        let mut checked = 0;
        for &a in &values {
            for &b in &values {
                let mut want: Vec<u32> = p.flow_always.clone();
                let mut m = masks.always.clone();
                for (((_, by_num), (_, by_bits)), v) in
                    typed.iter().zip(&masks.by_value).zip([a, b])
                {
                    if let Some(rs) = v.and_then(|n| by_num.get(&n)) {
                        want.extend(rs);
                    }
                    if let Some(bits) = v.and_then(|n| by_bits.get(&n)) {
                        FlowMasks::add(&mut m, bits);
                    }
                }
                want.sort_unstable();
                want.dedup();
                let mut got = smallvec::SmallVec::new();
                FlowMasks::rules(&p.flow, &m, &mut got);
                assert_eq!(got.as_slice(), want.as_slice(), "{a:?} {b:?}");
                checked += usize::from(want.len() > p.flow_always.len());
            }
        }
        assert!(
            checked > 100,
            "indexed rules were among the candidates ({checked})"
        );
    }

    #[test]
    fn flow_ports_and_actions_are_tested_typed_and_before_address_tables() {
        use crate::flowtest::FlowTest;
        let p = bundled_plan();
        // The index by port and protocol is typed, with the same rules under each number.
        let typed = p.flow_index_typed.as_ref().expect("typed flow index");
        assert_eq!(typed.len(), p.flow_index.len());
        for ((field, by_num), (fr, by_text)) in typed.iter().zip(&p.flow_index) {
            assert_eq!(*fr, FieldRef::resolve(LogKind::VpcFlow, Some(field.name())));
            assert_eq!(by_num.len(), by_text.len());
            for (n, rules) in by_num {
                assert_eq!(by_text.get(&n.to_string()), Some(rules));
            }
        }
        // th-flow-0020 asks for a scanner's address, an EMR port and ACCEPT: the port and the
        // action come first, typed; the table of ~20,000 networks last.
        let emr = p
            .rules
            .iter()
            .find(|r| r.rule.id == "th-flow-0020")
            .expect("th-flow-0020");
        let group = &emr.det.selections[0].groups[0];
        let ids = &emr.item_ids[0][0];
        assert_eq!(
            group.last().and_then(|it| it.field.as_deref()),
            Some("srcaddr")
        );
        for (it, &id) in group.iter().zip(ids).take(group.len() - 1) {
            let t = p.flow_typed[id as usize].as_ref();
            match it.field.as_deref() {
                Some("action") => assert!(matches!(t, Some(FlowTest::Action(true, false)))),
                Some("dstport") => assert!(matches!(t, Some(FlowTest::In(..)))),
                other => panic!("unexpected item {other:?}"),
            }
        }
        assert!(matches!(
            p.flow_typed[*ids.last().unwrap() as usize],
            Some(FlowTest::Addr(true, _))
        ));
    }

    #[test]
    fn a_first_seen_history_is_fed_once_per_event() {
        let p = bundled_plan();
        let ci = |id: &str| {
            p.correlations
                .iter()
                .position(|c| c.rule.id == id)
                .map(|i| i as u32)
        };
        let (Some(port), Some(ldap)) = (ci("th-flow-0025"), ci("th-flow-0026")) else {
            panic!("the NetworkPortUnusual correlations are bundled");
        };
        let base = p
            .rules
            .iter()
            .find(|r| r.rule.id == "th-flow-outbound-public")
            .map(|r| r.feeds.clone())
            .unwrap_or_default();
        // th-flow-0025 is `rules: [outbound, outbound]`: position 1 learns and is judged, so
        // position 0 is not fed as well; th-flow-0026 shares 0025's history, so its learning
        // position is not fed either.
        assert!(base.contains(&(port, 1)), "{base:?}");
        assert!(!base.contains(&(port, 0)), "{base:?}");
        assert!(!base.contains(&(ldap, 0)), "{base:?}");
        assert_eq!(
            p.correlations[port as usize].history,
            p.correlations[ldap as usize].history
        );
        // Every history is fed by at most one position of each correlation per rule.
        for r in &p.rules {
            let mut h: Vec<(usize, u32)> = r
                .feeds
                .iter()
                .filter_map(|&(c, _)| p.correlations[c as usize].history.map(|h| (h, c)))
                .collect();
            let n = h.len();
            h.sort_unstable();
            h.dedup();
            assert_eq!(h.len(), n, "{} feeds a history twice", r.rule.id);
        }
    }

    #[test]
    fn resolver_rules_indexed_by_their_domain_lists() {
        let p = bundled_plan();
        let mut seen: Vec<u32> = p.dns_always.clone();
        seen.extend(p.dns_by_domain.values().flatten());
        seen.sort_unstable();
        seen.dedup();
        // A rule on an empty list (a feed the user fills) is under no domain: it can never
        // match, so it is met by no record.
        let unreachable: Vec<u32> = p
            .dns
            .iter()
            .copied()
            .filter(|i| !seen.contains(i))
            .collect();
        for i in &unreachable {
            let det = &p.rules[*i as usize].det;
            assert!(required_domains(det).is_some_and(|d| d.names().next().is_none()));
        }
        let id = |s: &str| {
            p.rules
                .iter()
                .position(|r| r.rule.id == s)
                .map(|i| i as u32)
        };
        // The mining-pool rule is found through its pools' domains, the DGA base through none.
        let pools = id("th-dns-0003");
        assert!(pools.is_some_and(|i| !p.dns_always.contains(&i)));
        assert!(
            p.dns_by_domain
                .iter()
                .any(|(d, v)| d.contains('.') && pools.is_some_and(|i| v.contains(&i)))
        );
        assert!(id("th-dns-dga-candidate").is_some_and(|i| p.dns_always.contains(&i)));
    }
}
