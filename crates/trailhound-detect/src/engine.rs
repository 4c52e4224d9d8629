//! Running the plan: a [`Detector`] is a record sink that evaluates rules, aggregates hits into
//! findings and feeds correlation windows. Detectors made per unit of work merge associatively
//! ([`Detector::merge`]); [`Detector::finish`] turns the merged state into sorted findings.

use std::borrow::Cow;

use rayon::prelude::*;
use smallvec::SmallVec;
use thin_vec::ThinVec;

use hashbrown::HashMap;
use std::sync::Arc;

use trailhound_model::{CloudTrailRecord, DnsRecord, FlowRecord, LogKind, PerKind, RecordSink};
use trailhound_rules::condition::Cond;
use trailhound_rules::matcher::{Val, with_lowercase};
use trailhound_rules::rule::CorrelationKind;
use trailhound_rules::severity_label;

use crate::fields::{Event, Vals};
use crate::finding::KeyRef;
use crate::finding::{
    Agg, Evidence, Finding, Key, Resource, Sample, finding_id, merge_keyed, merge_maps, ts,
};
use crate::plan::{Plan, Prefilter};

/// Distinct values kept per correlation bucket before the count saturates.
pub const MAX_DISTINCT: usize = 4096;
/// Sub-buckets per correlation timespan (see docs/rules.md).
pub const SUB_BUCKETS: i64 = 4;

/// The earliest event of a bucket (or first-seen tuple), kept small because there is one per
/// correlation bucket: the strings that repeat (account, region, resource, a flow's interface)
/// are one [`Ctx`] shared through the detector's [`Interner`] (one pointer, one lookup and one
/// reference count per head, not four or five), a flow's sample is kept as its typed fields and
/// a CloudTrail or resolver event's as its strings in one buffer ([`Packed`]), rendered only for
/// the findings.
#[derive(Debug, Clone)]
struct Head {
    t: i64,
    ctx: Arc<Ctx>,
    sample: Snap,
}

/// What heads share: (account, region, resource type, resource id) and a flow's interface id.
#[derive(Debug, PartialEq, Eq)]
struct Ctx {
    account: Box<str>,
    region: Box<str>,
    kind: Box<str>,
    id: Box<str>,
    interface: Option<Box<str>>,
}

/// A [`Ctx`] borrowed from an event (hashed the same way, so the interner is asked without
/// copying anything).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CtxRef<'a> {
    account: &'a str,
    region: &'a str,
    kind: &'a str,
    id: &'a str,
    interface: Option<&'a str>,
}

/// A head's sample event.
#[derive(Debug, Clone)]
enum Snap {
    Flow(FlowSnap),
    Packed(Packed),
    Built(Box<Sample>),
}

impl Head {
    fn sample(&self) -> Sample {
        match &self.sample {
            Snap::Flow(f) => f.sample(self.ctx.interface.as_deref()),
            Snap::Packed(p) => p.sample(),
            Snap::Built(s) => (**s).clone(),
        }
    }
}

/// The string evidence fields a [`Packed`] sample holds, in [`Evidence`]'s order: event id,
/// API, service, caller, user agent, source address, domain, query type.
const PACKED_FIELDS: usize = 8;

/// A sample's line and string evidence in one buffer: a CloudTrail or resolver head's sample
/// was a boxed [`Sample`] of four to six strings, each allocated when a correlation bucket
/// opened and freed when it closed (a tenth of a resolver scan); most are never shown. The
/// buffer starts with the line's length and each field's (`u32::MAX` when absent), little-endian,
/// then holds the line and the fields present, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packed(Box<[u8]>);

impl Packed {
    /// Bytes of the lengths at the start of the buffer.
    const HEADER: usize = 4 * (1 + PACKED_FIELDS);

    /// The line joined from `line`'s parts, with `fields`; `None` when a part is too long to
    /// be measured in 32 bits.
    fn new(line: &[&str], fields: [Option<&str>; PACKED_FIELDS]) -> Option<Packed> {
        let len = |n: usize| u32::try_from(n).ok().filter(|&n| n != u32::MAX);
        let line_len: usize = line.iter().map(|p| p.len()).sum();
        let body = line_len + fields.iter().flatten().map(|f| f.len()).sum::<usize>();
        let mut buf = Vec::with_capacity(Self::HEADER + body);
        buf.extend_from_slice(&len(line_len)?.to_le_bytes());
        for f in &fields {
            let n = match f {
                Some(f) => len(f.len())?,
                None => u32::MAX,
            };
            buf.extend_from_slice(&n.to_le_bytes());
        }
        for p in line {
            buf.extend_from_slice(p.as_bytes());
        }
        for f in fields.iter().flatten() {
            buf.extend_from_slice(f.as_bytes());
        }
        Some(Packed(buf.into_boxed_slice()))
    }

    /// The line and the fields, read back.
    fn parts(&self) -> (&str, [Option<&str>; PACKED_FIELDS]) {
        let b = &self.0;
        let n = |i: usize| {
            b.get(4 * i..4 * i + 4)
                .and_then(|x| <[u8; 4]>::try_from(x).ok())
                .map_or(u32::MAX, u32::from_le_bytes)
        };
        // Every slice was a `&str` when packed, cut at its own ends.
        let mut at = Self::HEADER;
        let mut take = |len: u32| {
            let s = b
                .get(at..at + len as usize)
                .and_then(|x| std::str::from_utf8(x).ok())
                .unwrap_or_default();
            at += len as usize;
            s
        };
        let line = take(n(0));
        let mut fields = [None; PACKED_FIELDS];
        for (i, f) in fields.iter_mut().enumerate() {
            let len = n(i + 1);
            if len != u32::MAX {
                *f = Some(take(len));
            }
        }
        (line, fields)
    }

    /// The line, without reading the fields.
    fn line(&self) -> &str {
        self.parts().0
    }

    fn sample(&self) -> Sample {
        let (line, f) = self.parts();
        let own = |i: usize| f[i].map(str::to_owned);
        Sample {
            text: line.to_owned(),
            evidence: Evidence {
                event_id: own(0),
                api: own(1),
                service: own(2),
                caller: own(3),
                user_agent: own(4),
                src_addr: own(5),
                domain: own(6),
                query_type: own(7),
                ..Evidence::default()
            },
        }
    }

    /// `ev`'s sample packed, exactly as [`sample`] renders it; `None` for a flow record (see
    /// [`FlowSnap`]) and for a CloudTrail record without an event id (its line shows the time).
    fn of(ev: &Event<'_, '_>) -> Option<Packed> {
        match ev {
            Event::CloudTrail(r) => {
                let id = r.event_id.as_deref()?;
                let api = r.event_name.as_ref();
                Packed::new(
                    &[id, " ", api],
                    [
                        Some(id),
                        Some(api),
                        r.event_source.as_deref(),
                        r.source_ip.as_deref(),
                        r.user_agent.as_deref(),
                        None,
                        None,
                        None,
                    ],
                )
            }
            Event::Flow(_) => None,
            Event::Dns(r, ..) => {
                let mut addr = AddrText::default();
                let src = r.srcaddr.map(|a| addr.of(a));
                let from = match (&r.instance, src) {
                    (Some(i), _) => i.as_ref(),
                    (None, Some(a)) => a,
                    (None, None) => "-",
                };
                let name = r.name();
                let qtype = r.query_type.as_deref();
                Packed::new(
                    &[&name, " ", qtype.unwrap_or("-"), " from ", from],
                    [None, None, None, None, None, src, Some(&name), qtype],
                )
            }
        }
    }
}

/// An address's text, written without allocating (as `Display` writes it).
struct AddrText([u8; 48], usize);

impl Default for AddrText {
    fn default() -> Self {
        AddrText([0; 48], 0)
    }
}

impl AddrText {
    fn of(&mut self, a: std::net::IpAddr) -> &str {
        use std::io::Write;
        let mut w = &mut self.0[..];
        let room = w.len();
        // 48 bytes hold the longest text of an address (45 for IPv6 with an IPv4 tail).
        self.1 = match write!(w, "{a}") {
            Ok(()) => room - w.len(),
            Err(_) => 0,
        };
        std::str::from_utf8(&self.0[..self.1]).unwrap_or_default()
    }
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Head {}
impl Head {
    /// A finding's part of `count` events up to `last` that starts with this head.
    fn part(&self, rule: u32, c: &crate::plan::CorrelationRule, count: u64, last: i64) -> Agg {
        Agg {
            rule,
            severity: c.rule.finding.severity,
            count,
            first: self.t,
            last,
            samples: vec![(self.t, self.sample())],
        }
    }

    /// The key of the finding this head gives the account, region and resource of.
    fn key(&self, c: &crate::plan::CorrelationRule) -> Key {
        Key {
            finding_type: c.rule.finding.finding_type.clone(),
            account: self.ctx.account.to_string(),
            region: self.ctx.region.to_string(),
            resource: Resource {
                kind: self.ctx.kind.to_string(),
                id: self.ctx.id.to_string(),
            },
        }
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    /// (time, account, region, resource, sample), the sample by its text as findings order
    /// samples: rendered only when everything before it ties.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let same = Arc::ptr_eq(&self.ctx, &o.ctx);
        let (a, b) = (&self.ctx, &o.ctx);
        self.t
            .cmp(&o.t)
            .then_with(|| {
                if same {
                    return std::cmp::Ordering::Equal;
                }
                (&a.account, &a.region, &a.kind, &a.id)
                    .cmp(&(&b.account, &b.region, &b.kind, &b.id))
            })
            .then_with(|| match (&self.sample, &o.sample) {
                (Snap::Flow(x), Snap::Flow(y))
                    if x == y && (same || a.interface == b.interface) =>
                {
                    std::cmp::Ordering::Equal
                }
                (Snap::Packed(x), Snap::Packed(y)) if x == y => std::cmp::Ordering::Equal,
                // Samples order by their line first: only equal lines need the facts.
                (Snap::Packed(x), Snap::Packed(y)) if x.line() != y.line() => {
                    x.line().cmp(y.line())
                }
                (Snap::Built(x), Snap::Built(y)) => x.cmp(y),
                _ => self.sample().cmp(&o.sample()),
            })
    }
}

/// A flow record's fields that its sample shows, packed: one is kept per open correlation bucket
/// of the flow pack (hundreds of thousands of them), and two `Option<IpAddr>` alone took 34
/// bytes. IPv4 addresses are kept as their 32 bits; a record with an IPv6 address keeps its
/// rendered sample instead ([`FlowSnap::of`] gives `None`), which is rare in flow logs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FlowSnap {
    /// 0 when the record has none (the sample shows 0 then).
    bytes: u64,
    srcaddr: u32,
    dstaddr: u32,
    srcport: u16,
    dstport: u16,
    protocol: u8,
    /// Which of the fields above the record has ([`FlowSnap::SRCADDR`] …).
    has: u8,
    action: Option<trailhound_model::FlowAction>,
}

impl FlowSnap {
    const SRCADDR: u8 = 1;
    const DSTADDR: u8 = 2;
    const SRCPORT: u8 = 4;
    const DSTPORT: u8 = 8;
    const PROTOCOL: u8 = 16;

    /// The record's fields (its interface id is kept in the head's [`Ctx`]), or `None` when an
    /// address is IPv6.
    fn of(r: &FlowRecord<'_>) -> Option<Self> {
        use std::net::IpAddr;
        let mut has = 0;
        let mut v4 = |a: Option<IpAddr>, bit: u8| match a {
            None => Some(0),
            Some(IpAddr::V4(a)) => {
                has |= bit;
                Some(u32::from(a))
            }
            Some(IpAddr::V6(_)) => None,
        };
        let srcaddr = v4(r.srcaddr, Self::SRCADDR)?;
        let dstaddr = v4(r.dstaddr, Self::DSTADDR)?;
        let mut bit = |v: Option<u16>, b: u8| {
            if v.is_some() {
                has |= b;
            }
            v.unwrap_or(0)
        };
        let srcport = bit(r.srcport, Self::SRCPORT);
        let dstport = bit(r.dstport, Self::DSTPORT);
        let protocol = bit(r.protocol.map(u16::from), Self::PROTOCOL) as u8;
        Some(FlowSnap {
            bytes: r.bytes.unwrap_or(0),
            srcaddr,
            dstaddr,
            srcport,
            dstport,
            protocol,
            has,
            action: r.action,
        })
    }

    fn sample(&self, interface: Option<&str>) -> Sample {
        let on = |b: u8| self.has & b != 0;
        let addr =
            |a: u32, b: u8| on(b).then(|| std::net::IpAddr::from(std::net::Ipv4Addr::from(a)));
        FlowFields {
            srcaddr: addr(self.srcaddr, Self::SRCADDR),
            srcport: on(Self::SRCPORT).then_some(self.srcport),
            dstaddr: addr(self.dstaddr, Self::DSTADDR),
            dstport: on(Self::DSTPORT).then_some(self.dstport),
            protocol: on(Self::PROTOCOL).then_some(self.protocol),
            action: self.action,
            bytes: self.bytes,
        }
        .sample(interface)
    }
}

/// The fields of a flow record that its sample shows, unpacked.
struct FlowFields {
    srcaddr: Option<std::net::IpAddr>,
    srcport: Option<u16>,
    dstaddr: Option<std::net::IpAddr>,
    dstport: Option<u16>,
    protocol: Option<u8>,
    action: Option<trailhound_model::FlowAction>,
    bytes: u64,
}

impl FlowFields {
    fn of(r: &FlowRecord<'_>) -> Self {
        FlowFields {
            srcaddr: r.srcaddr,
            srcport: r.srcport,
            dstaddr: r.dstaddr,
            dstport: r.dstport,
            protocol: r.protocol,
            action: r.action,
            bytes: r.bytes.unwrap_or(0),
        }
    }

    /// The sample: its line for people and its facts for machines.
    fn sample(&self, interface: Option<&str>) -> Sample {
        let action = self.action.map(|a| match a {
            trailhound_model::FlowAction::Accept => "ACCEPT",
            trailhound_model::FlowAction::Reject => "REJECT",
        });
        fn or_dash<T: ToString>(v: Option<T>) -> String {
            v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
        }
        Sample {
            text: format!(
                "{} {}:{} -> {}:{} proto {} {} {} bytes",
                interface.unwrap_or("-"),
                or_dash(self.srcaddr),
                or_dash(self.srcport),
                or_dash(self.dstaddr),
                or_dash(self.dstport),
                or_dash(self.protocol),
                action.unwrap_or("-"),
                self.bytes
            ),
            evidence: Evidence {
                src_addr: self.srcaddr.map(|a| a.to_string()),
                src_port: self.srcport,
                dst_addr: self.dstaddr.map(|a| a.to_string()),
                dst_port: self.dstport,
                protocol: self.protocol,
                action: action.map(str::to_owned),
                ..Evidence::default()
            },
        }
    }
}

/// One detector's shared copies of the [`Ctx`]s that heads repeat, by a 128-bit hash of their
/// fields (as correlation groups are, see [`GroupId`]): a flow scan asks once per bucket it
/// opens, and comparing the five strings of the match through their pointers was most of a
/// lookup (a fifth of feeding a flow correlation that opens a group per record).
///
/// It also keeps the last head it built, for the record and the correlations' resource class
/// (see [`crate::plan::CorrelationRule::resource_class`]) it was built for: a record that feeds
/// several correlations of one class (a flow of UDP to port 443 or 53 feeds two DoS rules)
/// gets a copy of it. A fifth of a flow scan's heads were such repeats.
#[derive(Debug, Clone, Default)]
struct Interner {
    ctxs: HashMap<u128, Arc<Ctx>, GroupIdHash>,
    last: Option<(u64, u32, Head)>,
}

impl Interner {
    fn get(&mut self, c: CtxRef<'_>) -> Arc<Ctx> {
        let ctx = self.ctxs.entry(hash_id(&c)).or_insert_with(|| {
            Arc::new(Ctx {
                account: c.account.into(),
                region: c.region.into(),
                kind: c.kind.into(),
                id: c.id.into(),
                interface: c.interface.map(Into::into),
            })
        });
        Arc::clone(ctx)
    }

    /// The head of record number `record` (an event at time `t`) for a correlation `c`, the
    /// last one built when that was for the same record and resource class.
    fn head_of(
        &mut self,
        record: u64,
        c: &crate::plan::CorrelationRule,
        ev: &Event<'_, '_>,
        t: i64,
        account: &str,
        region: &str,
    ) -> Head {
        if let Some((r, class, h)) = &self.last
            && *r == record
            && *class == c.resource_class
        {
            return h.clone();
        }
        let h = self.head(&c.resources, ev, t, account, region);
        self.last = Some((record, c.resource_class, h.clone()));
        h
    }

    /// The head of an event at time `t`.
    fn head(
        &mut self,
        specs: &[crate::plan::ResourceRef],
        ev: &Event<'_, '_>,
        t: i64,
        account: &str,
        region: &str,
    ) -> Head {
        let (kind, id) = resource_ref(specs, ev, account);
        let interface = match ev {
            Event::Flow(r) => r.interface_id(),
            _ => None,
        };
        Head {
            t,
            ctx: self.get(CtxRef {
                account,
                region,
                kind,
                id: &id,
                interface,
            }),
            sample: match ev {
                Event::Flow(r) => match FlowSnap::of(r) {
                    Some(f) => Snap::Flow(f),
                    None => Snap::Built(Box::new(sample(ev))),
                },
                _ => match Packed::of(ev) {
                    Some(p) => Snap::Packed(p),
                    None => Snap::Built(Box::new(sample(ev))),
                },
            },
        }
    }
}

/// One correlation time bucket of one group.
#[derive(Debug, Clone, Default)]
struct Bucket {
    count: u64,
    /// What the correlation's condition measures beyond the count.
    stat: Stat,
    /// The earliest event's (time, account, region, resource, sample). Kept in the bucket, not
    /// boxed: nearly every bucket has one, and a box cost an allocation and a free per bucket.
    head: Option<Head>,
    last: i64,
    /// A window holding this bucket has met the condition.
    marked: bool,
}

/// A bucket's statistic beyond its count, by correlation kind: one of them per bucket, so a
/// bucket carries the 16 bytes of an enum instead of a sum, a vector and a slice (48 bytes) for
/// every kind. The open buckets of a flow scan's DoS and port-scan rules number in the hundreds
/// of thousands.
#[derive(Debug, Clone, Default)]
enum Stat {
    /// `event_count` (and any bucket nothing was added to yet).
    #[default]
    None,
    /// `value_sum`: the field's numbers added up.
    Sum(f64),
    /// `value_count`: hashes of the distinct values seen (sorted): only their number matters, and
    /// a 64-bit hash stands for a value at a fraction of its memory. A `ThinVec` (length and
    /// capacity on the heap) keeps the enum at 16 bytes.
    Distinct(ThinVec<u64>),
    /// `temporal`, `temporal_ordered`: earliest and latest time per referenced rule.
    Times(ThinVec<Option<(i64, i64)>>),
}

impl Stat {
    fn sum(&self) -> f64 {
        match self {
            Stat::Sum(x) => *x,
            _ => 0.0,
        }
    }

    fn distinct(&self) -> &[u64] {
        match self {
            Stat::Distinct(v) => v,
            _ => &[],
        }
    }

    fn times(&self) -> &[Option<(i64, i64)>] {
        match self {
            Stat::Times(v) => v,
            _ => &[],
        }
    }

    fn add_sum(&mut self, x: f64) {
        match self {
            Stat::Sum(s) => *s += x,
            _ => *self = Stat::Sum(x),
        }
    }

    /// The value hashes (made the statistic if it was not).
    fn distinct_mut(&mut self) -> &mut ThinVec<u64> {
        if !matches!(self, Stat::Distinct(_)) {
            *self = Stat::Distinct(ThinVec::new());
        }
        match self {
            Stat::Distinct(v) => v,
            _ => unreachable!("set to Distinct above"),
        }
    }

    /// Adds one value's hash (the count saturates at `cap`, the correlation's
    /// [`crate::plan::CorrelationRule::distinct_cap`]).
    fn add_value(&mut self, h: u64, cap: usize) {
        insert_capped(self.distinct_mut(), h, cap);
    }

    /// The per-rule times, with room for `n` rules.
    fn times_mut(&mut self, n: usize) -> &mut ThinVec<Option<(i64, i64)>> {
        if !matches!(self, Stat::Times(_)) {
            *self = Stat::Times(ThinVec::new());
        }
        match self {
            Stat::Times(v) => {
                if v.len() < n {
                    v.resize(n, None);
                }
                v
            }
            _ => unreachable!("set to Times above"),
        }
    }

    /// Folds another bucket's statistic in (both of one correlation, so of one kind).
    fn merge(&mut self, o: &Stat, cap: usize) {
        match o {
            Stat::None => {}
            Stat::Sum(x) => self.add_sum(*x),
            Stat::Distinct(theirs) => {
                let mine = self.distinct_mut();
                if mine.is_empty() {
                    mine.extend(theirs.iter().copied().take(cap));
                } else {
                    for &h in theirs.iter() {
                        insert_capped(mine, h, cap);
                    }
                }
            }
            Stat::Times(theirs) => {
                let mine = self.times_mut(theirs.len());
                for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                    *m = match (*m, *t) {
                        (Some((f, l)), Some((of, ol))) => Some((f.min(of), l.max(ol))),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
    }
}

/// Adds `h` to the sorted hashes `v` unless it is there or `v` holds `cap` already.
fn insert_capped(v: &mut ThinVec<u64>, h: u64, cap: usize) {
    if let Err(i) = v.binary_search(&h)
        && v.len() < cap
    {
        v.insert(i, h);
    }
}

impl Bucket {
    /// Folds another bucket's statistics in (not its head): what a window's condition needs.
    fn merge_stats(&mut self, o: &Bucket, cap: usize) {
        self.count += o.count;
        self.stat.merge(&o.stat, cap);
        self.last = self.last.max(o.last);
    }

    fn merge(&mut self, o: Bucket, cap: usize) {
        self.merge_stats(&o, cap);
        if let Some(h) = o.head
            && self.head.as_ref().is_none_or(|mine| h < *mine)
        {
            self.head = Some(h);
        }
        self.marked |= o.marked;
    }
}

/// One window correlation's open buckets, time-major: per sub-bucket (sorted by number), the
/// buckets of the groups that have one there.
///
/// Group-major (a table of groups, each with its sorted buckets) was the first layout. On a flow
/// scan nearly every DoS or port-scan event opens a group of its own, so that layout cost, per
/// event, an allocation for the group's buckets, a cache miss in a table of a few hundred
/// thousand groups in the batch's detector, another when the batch was merged into the scan's,
/// and a third when its windows closed (each closing walked every group): half of a flow scan.
/// Here each sub-bucket's table holds only the groups of that quarter of the timespan (15 s for
/// the DoS rules: a few hundred groups), so feeding, merging and closing mostly stay in cache, a whole sub-bucket merges by moving its table
/// when the other side has none, and closing walks only the sub-buckets it closes (looking a
/// group up in the few after each, which its windows cover).
#[derive(Debug, Clone, Default)]
struct Windows {
    slots: Vec<(i64, Slot)>,
}

/// One sub-bucket's buckets, by group.
type Slot = HashMap<GroupId, Bucket, GroupIdHash>;

impl Windows {
    /// Sub-bucket `b`'s table, made empty if there is none.
    fn slot(&mut self, b: i64) -> &mut Slot {
        // Events come in roughly time order, so the latest sub-bucket is tried first.
        let i = match self.slots.last() {
            Some((k, _)) if *k == b => self.slots.len() - 1,
            _ => match self.slots.binary_search_by_key(&b, |(k, _)| *k) {
                Ok(i) => i,
                Err(i) => {
                    self.slots.insert(i, (b, Slot::default()));
                    i
                }
            },
        };
        &mut self.slots[i].1
    }

    /// Open buckets.
    fn buckets(&self) -> usize {
        self.slots.iter().map(|(_, s)| s.len()).sum()
    }

    /// Folds another detector's buckets of the same correlation in.
    fn merge(&mut self, theirs: Windows, cap: usize) {
        for (b, mut slot) in theirs.slots {
            match self.slots.binary_search_by_key(&b, |(k, _)| *k) {
                Err(i) => self.slots.insert(i, (b, slot)),
                Ok(i) => {
                    let mine = &mut self.slots[i].1;
                    // Bucket merges are symmetric: fold the smaller table into the larger.
                    if mine.len() < slot.len() {
                        std::mem::swap(mine, &mut slot);
                    }
                    for (g, bucket) in slot {
                        match mine.entry(g) {
                            hashbrown::hash_map::Entry::Vacant(v) => {
                                v.insert(bucket);
                            }
                            hashbrown::hash_map::Entry::Occupied(mut o) => {
                                o.get_mut().merge(bucket, cap);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A window correlation group's identity: a 128-bit hash of its group-by values joined with
/// U+001F (of a flow record's parsed addresses when those are the group-by, see
/// [`flow_group_id`]). The text is never needed again (a finding's key comes from its earliest event), and a
/// flow scan holds hundreds of thousands of groups: one per source and destination pair for the
/// DoS and port-scan rules. Keyed by text, each group cost an allocation, and every lookup hashed
/// and compared a 20–40 byte string; a 16-byte id costs neither. The two 64-bit halves come
/// from differently seeded hashes with seeds drawn once per process, so colliding group values
/// cannot be worked out ahead of a run, and two groups collide by chance with probability well
/// under 2^-64 per pair. Nothing is ordered by the id (merges of group findings do not depend on
/// order), so results stay the same from run to run.
type GroupId = u128;

fn group_id(key: &str) -> GroupId {
    hash_id(key)
}

/// The [`GroupId`] of a flow record's group from its parsed addresses instead of their text,
/// when the group-by is one or two address columns (`srcaddr`, `dstaddr`): the DoS and
/// port-scan rules group every record they see by its source and destination, and reading,
/// joining and hashing the two texts was most of finding the group. `None` for other group-bys
/// (their text is joined then). An address's text and its parsed form stand for each other (the
/// parser rejects a record whose address does not parse; `-` and absent are `None` in both), so
/// the groups are the same ones, except that an IPv6 address written two ways is one group here.
/// A correlation's group-by is fixed, so all its flow records find their group the same way.
fn flow_group_id(r: &FlowRecord<'_>, refs: &[crate::fields::FieldRef]) -> Option<GroupId> {
    use crate::fields::FieldRef;
    use trailhound_model::FlowField;
    // Each address as (kind, bits): 0 absent, 1 IPv4, 2 IPv6.
    let key = |f: &FieldRef| -> Option<(u64, u128)> {
        let a = match f {
            FieldRef::Flow(FlowField::Srcaddr, _) => r.srcaddr,
            FieldRef::Flow(FlowField::Dstaddr, _) => r.dstaddr,
            _ => return None,
        };
        Some(match a {
            None => (0, 0),
            Some(std::net::IpAddr::V4(v)) => (1, u128::from(u32::from(v))),
            Some(std::net::IpAddr::V6(v)) => (2, u128::from(v)),
        })
    };
    match refs {
        [a] => {
            let (ka, a) = key(a)?;
            Some(hash_id(&(ka, a)))
        }
        [a, b] => {
            let ((ka, a), (kb, b)) = (key(a)?, key(b)?);
            Some(hash_id(&(ka << 8 | kb, a, b)))
        }
        _ => None,
    }
}

/// A 128-bit hash of `v` that stands for it (see [`GroupId`]): two 64-bit halves from
/// differently seeded hashes, seeds drawn once per process.
fn hash_id<T: std::hash::Hash + ?Sized>(v: &T) -> u128 {
    use std::hash::BuildHasher;
    static SEEDS: std::sync::OnceLock<[foldhash::fast::FixedState; 2]> = std::sync::OnceLock::new();
    let [a, b] = SEEDS.get_or_init(|| {
        let r = foldhash::fast::RandomState::default();
        [1u64, 2].map(|i| foldhash::fast::FixedState::with_seed(r.hash_one(i)))
    });
    (u128::from(a.hash_one(v)) << 64) | u128::from(b.hash_one(v))
}

/// Maps keyed by a [`GroupId`], which is a hash already: its bits are the table's hash.
type GroupIdHash = std::hash::BuildHasherDefault<IdHasher>;

#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only ids are hashed with this (`write_u128`); anything else still gets a hash.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

/// Separator of the values in a group key.
const SEP: char = '\u{1f}';

/// `first_seen` history of one group: when it was first seen, and when each signal value was.
#[derive(Debug, Clone)]
struct History {
    start: i64,
    /// Per signal field: when each value (by its hash, see [`value_hash`]) was first seen.
    seen: Vec<HashMap<u64, i64>>,
    /// Per signal field: more than the history's `max-values` values were first seen in the
    /// learning period; the field's values are no longer kept, and none counts as new.
    saturated: Vec<bool>,
}

impl History {
    fn new(fields: usize) -> Self {
        History {
            start: i64::MAX,
            seen: vec![HashMap::new(); fields],
            saturated: vec![false; fields],
        }
    }
    fn see(&mut self, t: i64, values: &[u64]) {
        self.start = self.start.min(t);
        for ((m, &v), &full) in self.seen.iter_mut().zip(values).zip(&self.saturated) {
            if full {
                continue;
            }
            let x = m.entry(v).or_insert(t);
            *x = (*x).min(t);
        }
    }
    fn merge(&mut self, o: History) {
        self.start = self.start.min(o.start);
        if self.seen.len() < o.seen.len() {
            self.seen.resize(o.seen.len(), HashMap::new());
            self.saturated.resize(o.seen.len(), false);
        }
        for (((m, om), full), ofull) in self
            .seen
            .iter_mut()
            .zip(o.seen)
            .zip(self.saturated.iter_mut())
            .zip(o.saturated)
        {
            if *full || ofull {
                *full = true;
                *m = HashMap::new();
                continue;
            }
            for (v, t) in om {
                let e = m.entry(v).or_insert(t);
                *e = (*e).min(t);
            }
        }
    }
    /// Keeps of each signal only what can still matter, once the group's start is fixed (no
    /// event that can still come is earlier): the values first seen in the learning period
    /// (`timespan` from the start); one first seen after it is new and stays new, as a value
    /// missing from the history is ([`new_values`]). A signal left with more than `cap` values
    /// is saturated. Both only ever grow with later events, so settling between batches gives
    /// the findings of settling once at the end.
    fn settle(&mut self, timespan: i64, cap: usize) {
        let learned = self.start.saturating_add(timespan);
        for (m, full) in self.seen.iter_mut().zip(self.saturated.iter_mut()) {
            if *full {
                continue;
            }
            m.retain(|_, t| *t < learned);
            if m.len() > cap {
                *full = true;
                *m = HashMap::new();
            }
        }
    }
}

/// `first_seen` histories by group ([`GroupId`], as window groups are: the group's text is never
/// needed again, and a history lookup hashed and compared its text on every event).
type Histories = HashMap<GroupId, History, GroupIdHash>;

/// The fixed starts of `first_seen` groups, per history: those of a scan's detector whose start
/// lies behind the windows it closed, as [`Detector::learning_periods`] takes them. A detector
/// given them ([`Detector::with_learning_periods`]) does not keep the behaviour of a group that
/// falls inside its learning period: every value of such an event was first seen in that period,
/// so the tuple has no new value, now or later, and is never reported (closing would drop it
/// anyway). On a flow scan nearly every outbound connection is such behaviour of the port-history
/// rules, and keeping it (a lookup in a table of tens of thousands of tuples, a head for every
/// new one, and merging and dropping them batch after batch) was over two fifths of what those
/// rules cost.
#[derive(Debug, Clone, Default)]
pub struct LearningPeriods(Vec<HashMap<GroupId, i64, GroupIdHash>>);

/// `first_seen` behaviour of one group with one tuple of signal values.
#[derive(Debug, Clone)]
struct Novel {
    count: u64,
    last: i64,
    head: Head,
}

impl Novel {
    fn merge(&mut self, o: Novel) {
        self.count += o.count;
        self.last = self.last.max(o.last);
        if o.head < self.head {
            self.head = o.head;
        }
    }
}

type Novels = HashMap<GroupId, HashMap<Vec<u64>, Novel>, GroupIdHash>;

/// The reported part of a `first_seen` group whose learning period lies behind the closing
/// horizon: its tuples' novelty is settled (no event that could still come is earlier than the
/// end of the learning period), so they are folded here as the windows close instead of being
/// kept until the end of the scan. With the history settled too ([`History::settle`]), a group's
/// state stops growing with the scan's length.
#[derive(Debug, Clone)]
struct Settled {
    agg: Agg,
    /// The earliest head folded: the finding's account, region and resource, as `finish` takes
    /// them from the earliest tuple.
    head: Head,
    /// Hashes ([`tuple_hash`]) of the reported tuples: a later event of one adds to the count
    /// and the last time only, as it would have to the tuple kept whole.
    tuples: hashbrown::HashSet<u64, foldhash::fast::FixedState>,
}

impl Settled {
    /// Folds a reported tuple (hash `fp`) into `s`.
    fn fold(
        s: &mut Option<Settled>,
        rule: u32,
        c: &crate::plan::CorrelationRule,
        fp: u64,
        n: Novel,
    ) {
        if let Some(x) = s
            && x.tuples.contains(&fp)
        {
            x.agg.count += n.count;
            x.agg.last = x.agg.last.max(n.last);
            return;
        }
        let part = n.head.part(rule, c, n.count, n.last);
        match s {
            Some(x) => {
                x.agg.merge(part);
                if n.head < x.head {
                    x.head = n.head;
                }
                x.tuples.insert(fp);
            }
            None => {
                let mut tuples =
                    hashbrown::HashSet::with_hasher(foldhash::fast::FixedState::default());
                tuples.insert(fp);
                *s = Some(Settled {
                    agg: part,
                    head: n.head,
                    tuples,
                });
            }
        }
    }

    fn merge(&mut self, o: Settled) {
        self.agg.merge(o.agg);
        if o.head < self.head {
            self.head = o.head;
        }
        self.tuples.extend(o.tuples);
    }

    /// Judges a group's tuples against its history `h` and folds the reported ones (after the
    /// learning period, with enough new values) into `s`; the others are dropped.
    fn judge(
        s: &mut Option<Settled>,
        rule: u32,
        c: &crate::plan::CorrelationRule,
        h: &History,
        tuples: impl IntoIterator<Item = (Vec<u64>, Novel)>,
    ) {
        let learned = h.start.saturating_add(c.corr.timespan_ms);
        for (values, n) in tuples {
            if n.head.t >= learned && novelty_holds(c, new_values(&values, h, learned)) {
                Settled::fold(s, rule, c, tuple_hash(&values), n);
            }
        }
    }

    /// The finding's key and aggregate.
    fn into_finding(self, c: &crate::plan::CorrelationRule) -> (Key, Agg) {
        (self.head.key(c), self.agg)
    }
}

/// Per `first_seen` history: its learning period, its `max-values`, and (with `per_kind`) the
/// horizon of its groups' start: the earliest of its correlations' (which share their kinds).
fn history_limits<'p>(
    plan: &'p Plan,
    per_kind: Option<&'p PerKind<i64>>,
) -> impl Iterator<Item = (i64, usize, i64)> + 'p {
    (0..plan.histories).map(move |hi| {
        plan.correlations
            .iter()
            .filter(|c| c.history == Some(hi))
            .fold((0, usize::MAX, i64::MAX), |(ts, cap, h), c| {
                let horizon = per_kind.map_or(i64::MAX, |k| c.earliest(k));
                (
                    ts.max(c.corr.timespan_ms),
                    cap.min(c.corr.max_values),
                    h.min(horizon),
                )
            })
    })
}

/// A `first_seen` tuple's hash, for [`Settled::tuples`].
fn tuple_hash(values: &[u64]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x7475_706c_6573_0001).hash_one(values)
}

/// How many of a tuple's values are new to the group's history `h`: first seen at or after
/// `learned` (the end of its learning period), or missing from it (values first seen after the
/// learning period are dropped when the history settles, [`History::settle`]). A saturated
/// signal has no new values.
fn new_values(values: &[u64], h: &History, learned: i64) -> f64 {
    values
        .iter()
        .zip(&h.seen)
        .zip(&h.saturated)
        .filter(|((v, m), full)| !**full && m.get(*v).is_none_or(|&t| t >= learned))
        .count() as f64
}

/// A value's stable 64-bit hash, for state that only needs to tell values apart (distinct
/// counts, first-seen histories). foldhash with a fixed seed: the same in every thread and run,
/// so results do not depend on the thread count; two values collide with probability ~2^-64.
fn value_hash(v: &str) -> u64 {
    use std::hash::BuildHasher;
    VALUE_HASH.hash_one(v)
}

/// The fixed hasher of signal and statistic values ([`value_hash`], [`number_hash`]).
const VALUE_HASH: foldhash::fast::FixedState =
    foldhash::fast::FixedState::with_seed(0x7472_6169_6c68_6f75);

/// The hash a `value_count` bucket keeps for a number read typed ([`flow_number`]): not the hash
/// of its text, but every event of a correlation reads its field the one way.
fn number_hash(n: u64) -> u64 {
    use std::hash::BuildHasher;
    VALUE_HASH.hash_one(n)
}

/// A flow record's typed column (ports, protocol, packets, bytes, TCP flags) as the parser read
/// it (`Some(None)` when the record has none); `None` for any other event or field. The DoS
/// rules' `value_sum` of `packets` read each record's number as text and parsed it again, a
/// tenth of what feeding them cost. The parser takes a column only as plain digits, which
/// convert to the same `f64` as the text parses to.
fn flow_number(ev: &Event<'_, '_>, f: &crate::fields::FieldRef) -> Option<Option<u64>> {
    match (ev, f) {
        (Event::Flow(r), crate::fields::FieldRef::Flow(field, _))
            if crate::flowtest::is_typed(*field) =>
        {
            Some(crate::flowtest::number(r, *field))
        }
        _ => None,
    }
}

/// The hash of an event's value of `f` (`None` when it has none): a flow port or count as the
/// parser read it ([`number_hash`]), not rendered back into text; any other value by its text
/// ([`value_hash`]). Every event a correlation or history sees reads a field the one way (its
/// rules' log kind), so equal values hash equally.
fn field_hash(ev: &Event<'_, '_>, f: &crate::fields::FieldRef) -> Option<u64> {
    match flow_number(ev, f) {
        Some(n) => n.map(number_hash),
        None => ev.with_first_text(f, |t| t.map(value_hash)),
    }
}

/// The detection engine's per-thread state; also a [`RecordSink`].
#[derive(Debug, Clone)]
pub struct Detector {
    plan: Arc<Plan>,
    st: State,
}

/// The mutable part, kept apart from the shared plan so the hot path borrows the plan instead of
/// cloning the `Arc` (whose counter two threads would fight over).
#[derive(Debug, Clone)]
struct State {
    findings: HashMap<Key, Agg>,
    corr: Vec<Windows>,
    hist: Vec<Histories>,
    novel: Vec<Novels>,
    /// Per correlation: the settled `first_seen` groups, by group.
    settled: Vec<HashMap<GroupId, Settled, GroupIdHash>>,
    /// Groups whose learning period is fixed ([`LearningPeriods`]).
    learning: Arc<LearningPeriods>,
    /// Reused buffer for group keys.
    key_buf: String,
    /// The `first_seen` history this record last updated: (record, history, group, value
    /// hashes). Correlations that share a history share its group-by and fields, and a record
    /// often feeds two of them (the history rule at position 0 of one, a narrower rule at
    /// position 1 of another): the second feed takes the group and values from here instead of
    /// computing them again, and skips the history update, which would change nothing.
    seen_memo: Option<(u64, usize, GroupId, SmallVec<[u64; 4]>)>,
    /// Item results for the current record.
    memo: Memo,
    /// Typed test results for the current flow record ([`crate::flowprog`]).
    flow_bits: crate::flowprog::FlowBits,
    /// Strings shared by heads.
    strings: Interner,
    /// Per correlation: the finding each group has raised from windows already closed, with the
    /// key its earliest matching bucket gave.
    done: Vec<HashMap<GroupId, (Agg, Key), GroupIdHash>>,
    /// Per kind: windows of events before this time (Unix ms) have been closed
    /// ([`Detector::close_windows`]).
    closed: PerKind<i64>,
    /// Events that arrived for a window already closed.
    late: u64,
    suppressed: u64,
    hits: Vec<u64>,
    /// Computed fields of the query names seen lately (at most [`NAME_CACHE`]; emptied when
    /// full). Not state of the scan: merging detectors drops the other side's.
    names: HashMap<Box<str>, Arc<crate::fields::DnsDerived>>,
}

/// Query names whose computed fields a detector keeps.
const NAME_CACHE: usize = 1 << 16;

/// Results of the detection items already evaluated for the current record (stamped with the
/// record's number, so moving to the next record costs nothing).
#[derive(Debug, Clone, Default)]
pub(crate) struct Memo {
    stamp: Vec<u32>,
    value: Vec<bool>,
    now: u32,
    /// Records seen (never wraps in practice, unlike `now`).
    record: u64,
}

impl Memo {
    fn new(items: usize) -> Self {
        Memo {
            stamp: vec![0; items],
            value: vec![false; items],
            now: 1,
            record: 0,
        }
    }
    /// Forgets every result (a new record).
    fn next(&mut self) {
        self.record += 1;
        self.now = self.now.wrapping_add(1);
        if self.now == 0 {
            self.stamp.fill(0);
            self.now = 1;
        }
    }
}

/// Evaluates one detection item, by its plan-wide number through the memo.
fn eval_item(
    item: &trailhound_rules::detection::Item,
    fr: Option<&crate::fields::FieldRef>,
    id: Option<u32>,
    ev: &Event<'_, '_>,
    memo: &mut Memo,
    plan: &Plan,
) -> bool {
    let slot = id.map(|i| i as usize).filter(|&i| i < memo.stamp.len());
    if let Some(i) = slot
        && memo.stamp[i] == memo.now
    {
        return memo.value[i];
    }
    let typed_v = match (ev, slot) {
        // A typed column of a flow record: no text to look up (see `crate::flowtest`).
        (Event::Flow(r), Some(i)) => plan
            .flow_typed
            .get(i)
            .and_then(Option::as_ref)
            .map(|t| t.eval(r)),
        // Answers whose text cannot hold the values: not read (see `crate::rawtest`).
        (Event::Dns(r, ..), Some(i)) => plan
            .dns_answers_eq
            .get(i)
            .and_then(Option::as_ref)
            .filter(|a| !a.may_hold(r.answers))
            .map(|_| false),
        _ => None,
    };
    let v = match typed_v {
        Some(v) => v,
        // An empty list (no threat list given): nothing to read.
        None if item.test.never_matches() => false,
        None => {
            let mut vals = Vals::new();
            match fr {
                Some(fr) => ev.values_ref(fr, &mut vals),
                None => match &item.field {
                    Some(f) => ev.values(f, &mut vals),
                    None => ev.keyword_texts(&mut vals),
                },
            }
            item.test
                .eval(&vals, &mut |other| ev.text(other).into_iter().collect())
        }
    };
    if let Some(i) = slot {
        memo.stamp[i] = memo.now;
        memo.value[i] = v;
    }
    v
}

/// Element `[s][g][i]` of a per-item table.
fn at<T>(t: &crate::plan::Refs<T>, s: usize, g: usize, i: usize) -> Option<&T> {
    t.get(s).and_then(|x| x.get(g)).and_then(|x| x.get(i))
}

fn eval_cond(
    c: &Cond,
    r: &crate::plan::DetectionRule,
    ev: &Event<'_, '_>,
    memo: &mut Memo,
    plan: &Plan,
) -> bool {
    match c {
        Cond::Sel(i) => r.det.selections.get(*i).is_some_and(|s| {
            s.groups.iter().enumerate().any(|(gi, g)| {
                g.iter().enumerate().all(|(ii, item)| {
                    let fr = at(&r.refs, *i, gi, ii);
                    let id = at(&r.item_ids, *i, gi, ii).copied();
                    eval_item(item, fr, id, ev, memo, plan)
                })
            })
        }),
        Cond::And(v) => v.iter().all(|c| eval_cond(c, r, ev, memo, plan)),
        Cond::Or(v) => v.iter().any(|c| eval_cond(c, r, ev, memo, plan)),
        Cond::Not(c) => !eval_cond(c, r, ev, memo, plan),
    }
}

fn meta<'e>(ev: &'e Event<'_, '_>) -> (i64, &'e str, &'e str) {
    match ev {
        Event::CloudTrail(r) => (
            r.time,
            r.account().unwrap_or(""),
            r.aws_region.as_deref().unwrap_or(""),
        ),
        Event::Flow(r) => (
            r.time().unwrap_or(0),
            r.account_id().unwrap_or(""),
            r.region().unwrap_or(""),
        ),
        Event::Dns(r, ..) => (
            r.time,
            r.account_id.as_deref().unwrap_or(""),
            r.region.as_deref().unwrap_or(""),
        ),
    }
}

/// One event's sample: its line for people and its facts for machines.
fn sample(ev: &Event<'_, '_>) -> Sample {
    let own = |c: &Option<Cow<'_, str>>| c.as_ref().map(|x| x.to_string());
    match ev {
        Event::CloudTrail(r) => Sample {
            text: match &r.event_id {
                // Joined by hand: a head's sample is built for most correlation buckets.
                Some(id) => [id.as_ref(), " ", r.event_name.as_ref()].concat(),
                None => format!("{} {}", ts(r.time), r.event_name),
            },
            evidence: Evidence {
                event_id: own(&r.event_id),
                api: Some(r.event_name.to_string()),
                service: own(&r.event_source),
                caller: own(&r.source_ip),
                user_agent: own(&r.user_agent),
                ..Evidence::default()
            },
        },
        Event::Flow(r) => FlowFields::of(r).sample(r.interface_id()),
        Event::Dns(r, ..) => {
            let from = match (&r.instance, r.srcaddr) {
                (Some(i), _) => i.to_string(),
                (None, Some(a)) => a.to_string(),
                (None, None) => "-".into(),
            };
            // Joined by hand: a head's sample is built for most correlation buckets.
            let name = r.name();
            let qtype = r.query_type.as_deref().unwrap_or("-");
            let mut text = String::with_capacity(name.len() + qtype.len() + from.len() + 7);
            for part in [&*name, " ", qtype, " from ", &from] {
                text.push_str(part);
            }
            Sample {
                text,
                evidence: Evidence {
                    src_addr: r.srcaddr.map(|a| a.to_string()),
                    domain: Some(r.name().into_owned()),
                    query_type: own(&r.query_type),
                    ..Evidence::default()
                },
            }
        }
    }
}

/// The resource a finding is about: (type, id), borrowed where the record allows.
fn resource_ref<'s, 'r, 'a: 'r>(
    specs: &'s [crate::plan::ResourceRef],
    ev: &Event<'r, 'a>,
    account: &'s str,
) -> (&'s str, Cow<'r, str>) {
    for s in specs {
        if let Some(text) = ev.flow_column(&s.field) {
            match text {
                Some(text) if !text.is_empty() && text != "-" => {
                    return (s.kind.as_str(), Cow::Borrowed(text));
                }
                _ => continue,
            }
        }
        let mut vals = Vals::new();
        ev.values_ref(&s.field, &mut vals);
        for v in vals {
            let text = match v {
                Val::Str(c) | Val::Num(c) => c,
                Val::Complex(c) => Cow::Borrowed(c),
                Val::Bool(_) | Val::Null => continue,
            };
            if !text.is_empty() && text != "-" {
                return (s.kind.as_str(), text);
            }
        }
    }
    ("Account", Cow::Owned(account.to_owned()))
}

impl Detector {
    /// A fresh detector for a plan.
    pub fn new(plan: Arc<Plan>) -> Self {
        let n = plan.rules.len();
        let c = plan.correlations.len();
        let h = plan.histories;
        let items = plan.items;
        Detector {
            plan,
            st: State {
                findings: HashMap::new(),
                corr: vec![Windows::default(); c],
                hist: vec![Histories::default(); h],
                novel: vec![Novels::default(); c],
                settled: vec![HashMap::default(); c],
                learning: Arc::default(),
                key_buf: String::new(),
                seen_memo: None,
                memo: Memo::new(items),
                flow_bits: Default::default(),
                strings: Interner::default(),
                done: vec![HashMap::default(); c],
                closed: PerKind::uniform(i64::MIN),
                late: 0,
                suppressed: 0,
                hits: vec![0; n],
                names: HashMap::new(),
            },
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Correlation groups with an open bucket. Takes a pass over every open bucket; see
    /// [`Self::correlation_buckets`] for the cheap measure of the state's size.
    pub fn correlation_groups(&self) -> u64 {
        let mut groups = 0;
        let mut seen: std::collections::HashSet<GroupId, GroupIdHash> = Default::default();
        for w in &self.st.corr {
            seen.clear();
            for (_, slot) in &w.slots {
                seen.extend(slot.keys().copied());
            }
            groups += seen.len() as u64;
        }
        groups
    }

    /// Open correlation time buckets: the size of the correlation state.
    pub fn correlation_buckets(&self) -> u64 {
        self.st.corr.iter().map(|w| w.buckets() as u64).sum()
    }

    /// The same detector, told that the windows of events before `t` (Unix ms, per log kind)
    /// are closed already: events for them are counted as late ([`Self::late_events`]).
    pub fn closed_before(mut self, t: PerKind<i64>) -> Self {
        self.st.closed = t;
        self
    }

    /// The starts of this detector's `first_seen` groups that lie behind the windows it closed
    /// ([`Self::close_windows`]), for the detectors of the records still to come
    /// ([`Self::with_learning_periods`]).
    pub fn learning_periods(&self) -> LearningPeriods {
        let plan = &*self.plan;
        LearningPeriods(
            self.st
                .hist
                .iter()
                .zip(history_limits(plan, Some(&self.st.closed)))
                .map(|(hist, (_, _, horizon))| {
                    hist.iter()
                        .filter(|(_, h)| h.start < horizon)
                        .map(|(g, h)| (*g, h.start))
                        .collect()
                })
                .collect(),
        )
    }

    /// The same detector, told the `first_seen` groups whose start is fixed (from the scan's
    /// detector, [`Self::learning_periods`]): it keeps no behaviour of theirs that falls inside
    /// their learning period, which could never be reported. The findings are the same as
    /// without it as long as no record arrives later than the windows closed (as for
    /// [`Self::close_windows`]).
    pub fn with_learning_periods(mut self, l: Arc<LearningPeriods>) -> Self {
        self.st.learning = l;
        self
    }

    /// Correlation events that arrived for a window already closed: each still counts, in a
    /// bucket of its own, but cannot join the events of the closed window.
    pub fn late_events(&self) -> u64 {
        self.st.late
    }

    /// Closes every correlation window that no event at or after `horizon` (Unix ms; per log kind,
    /// a correlation taking the earliest of the kinds that feed it) can change:
    /// its condition is judged, the matching buckets are folded into their group's finding, and
    /// the buckets (and the groups left empty) are dropped. A scan that reads objects in time
    /// order calls this between batches so that the state holds the open windows only; the
    /// findings are the same as without it as long as no event arrives later than `horizon`.
    pub fn close_windows(&mut self, horizon: PerKind<i64>) {
        let plan = &*self.plan;
        self.st.close_windows(plan, horizon);
    }

    /// Settles every `first_seen` history as the end of the scan does (no record is to come):
    /// values first seen after a group's learning period are dropped and signals with more than
    /// `max-values` learned values saturate. [`Self::finish`] does this itself; call it before
    /// to count the saturated signals ([`Self::saturated_signals`]).
    pub fn settle_histories(&mut self) {
        let plan = &*self.plan;
        for (hist, (timespan, cap, _)) in self.st.hist.iter_mut().zip(history_limits(plan, None)) {
            for h in hist.values_mut() {
                h.settle(timespan, cap);
            }
        }
    }

    /// `first_seen` (group, signal) pairs whose signal saturated: more than the rule's
    /// `max-values` distinct values in the group's learning period, so that none of its values
    /// counts as new. Final once the histories are settled ([`Self::settle_histories`]).
    pub fn saturated_signals(&self) -> u64 {
        self.st
            .hist
            .iter()
            .flat_map(|hist| hist.values())
            .map(|h| h.saturated.iter().filter(|&&s| s).count() as u64)
            .sum()
    }

    /// Records skipped because they came from a trusted address.
    pub fn suppressed(&self) -> u64 {
        self.st.suppressed
    }

    /// Hits per detection rule (in plan order).
    pub fn hits(&self) -> &[u64] {
        &self.st.hits
    }

    /// Folds another detector's state (later in input order) into this one.
    pub fn merge(mut self, o: Detector) -> Detector {
        let o = o.st;
        self.st.findings = merge_maps(std::mem::take(&mut self.st.findings), o.findings);
        for ((mine, theirs), c) in self
            .st
            .corr
            .iter_mut()
            .zip(o.corr)
            .zip(&self.plan.correlations)
        {
            mine.merge(theirs, c.distinct_cap);
        }
        for (mine, theirs) in self.st.hist.iter_mut().zip(o.hist) {
            merge_keyed(mine, theirs, History::merge);
        }
        for (mine, theirs) in self.st.novel.iter_mut().zip(o.novel) {
            for (g, tuples) in theirs {
                merge_keyed(mine.entry(g).or_default(), tuples, Novel::merge);
            }
        }
        for (mine, theirs) in self.st.settled.iter_mut().zip(o.settled) {
            merge_keyed(mine, theirs, Settled::merge);
        }
        for (mine, theirs) in self.st.done.iter_mut().zip(o.done) {
            for (g, (a, key)) in theirs {
                match mine.get_mut(&g) {
                    // The part of the earlier window gives the key.
                    Some((x, k)) => {
                        if (a.first, &key) < (x.first, &*k) {
                            *k = key;
                        }
                        x.merge(a);
                    }
                    None => {
                        mine.insert(g, (a, key));
                    }
                }
            }
        }
        self.st.closed = self.st.closed.zip_with(o.closed, i64::max);
        self.st.late += o.late;
        self.st.suppressed += o.suppressed;
        for (a, b) in self.st.hits.iter_mut().zip(o.hits) {
            *a += b;
        }
        self
    }

    fn trusted(&self, ip: Option<std::net::IpAddr>) -> bool {
        !self.plan.trusted.is_empty() && ip.is_some_and(|a| self.plan.trusted.contains(a))
    }

    /// Evaluates correlations and returns every finding, sorted (severity, then type, account,
    /// region, resource).
    pub fn finish(mut self) -> Vec<Finding> {
        let plan = Arc::clone(&self.plan);
        let mut all = std::mem::take(&mut self.st.findings);
        self.settle_histories();
        let settled = std::mem::take(&mut self.st.settled);
        for ((ci, novels), mut settled) in std::mem::take(&mut self.st.novel)
            .into_iter()
            .enumerate()
            .zip(settled)
        {
            let c = &plan.correlations[ci];
            let Some(hi) = c.history else { continue };
            let Some(hist) = self.st.hist.get(hi) else {
                continue;
            };
            let rule = (plan.rules.len() + ci) as u32;
            for (g, tuples) in novels {
                let Some(h) = hist.get(&g) else { continue };
                let mut s = settled.remove(&g);
                Settled::judge(&mut s, rule, c, h, tuples);
                if let Some(s) = s {
                    let (key, a) = s.into_finding(c);
                    merge_into(&mut all, key, a);
                }
            }
            for (_, s) in settled {
                let (key, a) = s.into_finding(c);
                merge_into(&mut all, key, a);
            }
        }
        let mut st = self.st;
        // Every window closes now; the correlations are independent, so they close in parallel
        // (a tenth of a finding-heavy scan's end on one thread). `first_seen` ones hold no
        // windows, and their tuples were taken above.
        st.corr
            .par_iter_mut()
            .zip(st.done.par_iter_mut())
            .enumerate()
            .filter(|(ci, _)| plan.correlations[*ci].history.is_none())
            .for_each(|(ci, (groups, done))| close_correlation(&plan, ci, groups, done, i64::MAX));
        for done in st.done {
            for (_, (a, key)) in done {
                merge_into(&mut all, key, a);
            }
        }
        // Sorted before the findings are built, so the rule texts each finding copies are
        // allocated in output order (the key's and samples' strings are moved, so they stay where
        // the scan allocated them; the writers prefetch the strings of the findings ahead).
        let mut sorted: Vec<(Key, Agg)> = all.into_iter().collect();
        // `Agg::severity` is its rule's, the findings' severity. Keys are distinct, so (type,
        // account, region, resource) orders them completely (and a parallel sort gives the one
        // order); an empty account or region is the findings' `None`, which sorts first as ""
        // does.
        sorted.par_sort_unstable_by(|(ka, a), (kb, b)| {
            b.severity
                .total_cmp(&a.severity)
                .then_with(|| ka.finding_type.cmp(&kb.finding_type))
                .then_with(|| ka.account.cmp(&kb.account))
                .then_with(|| ka.region.cmp(&kb.region))
                .then_with(|| ka.resource.cmp(&kb.resource))
        });
        // Built in parallel, in order (a scan can end with 100,000 findings, and this was a
        // fifth of such a scan on one thread); the key's and the samples' strings are moved
        // into the finding, and the rule's texts are made once here and shared (see `Finding`).
        let texts: Vec<RuleTexts> = plan
            .rules
            .iter()
            .map(|r| &r.rule)
            .chain(plan.correlations.iter().map(|c| &c.rule))
            .map(|r| RuleTexts {
                severity: r.finding.severity,
                title: r.finding.title.as_str().into(),
                description: r.finding.description.as_str().into(),
                rule_id: r.id.as_str().into(),
                rule_path: r.path.as_str().into(),
                attack: r.finding.attack.as_slice().into(),
            })
            .collect();
        sorted
            .into_par_iter()
            .with_min_len(1024)
            .map(|(k, a)| {
                let t = &texts[a.rule as usize];
                let id = finding_id(&k);
                let (samples, evidence) = a
                    .samples
                    .into_iter()
                    .map(|(_, s)| (s.text, s.evidence))
                    .unzip();
                Finding {
                    id,
                    finding_type: k.finding_type,
                    severity: t.severity,
                    severity_label: severity_label(t.severity),
                    title: t.title.clone(),
                    description: t.description.clone(),
                    account: Some(k.account).filter(|s| !s.is_empty()),
                    region: Some(k.region).filter(|s| !s.is_empty()),
                    resource: k.resource,
                    count: a.count,
                    first_seen: a.first,
                    last_seen: a.last,
                    rule_id: t.rule_id.clone(),
                    rule_path: t.rule_path.clone(),
                    attack: t.attack.clone(),
                    evidence,
                    samples,
                }
            })
            .collect()
    }
}

/// What a rule's findings take from it: its score, and its texts as they share them.
struct RuleTexts {
    severity: f64,
    title: std::sync::Arc<str>,
    description: std::sync::Arc<str>,
    rule_id: std::sync::Arc<str>,
    rule_path: std::sync::Arc<str>,
    attack: std::sync::Arc<[String]>,
}

/// A record that a rule matched, as the correlations it feeds see it: the event, its time
/// (Unix ms) and its account and region.
#[derive(Clone, Copy)]
struct Hit<'h, 'r, 'a> {
    ev: &'h Event<'r, 'a>,
    t: i64,
    account: &'h str,
    region: &'h str,
}

impl State {
    /// See [`Detector::close_windows`].
    fn close_windows(&mut self, plan: &Plan, per_kind: PerKind<i64>) {
        // Histories first: a group's tuples are judged below against its settled history, as
        // `finish` judges them.
        for (hi, (timespan, cap, horizon)) in history_limits(plan, Some(&per_kind)).enumerate() {
            let Some(hist) = self.hist.get_mut(hi) else {
                continue;
            };
            for h in hist.values_mut() {
                if h.start < horizon {
                    h.settle(timespan, cap);
                }
            }
        }
        for (ci, groups) in self.corr.iter_mut().enumerate() {
            let c = &plan.correlations[ci];
            let horizon = c.earliest(&per_kind);
            if let Some(hi) = c.history {
                // Only when a tuple with no new value cannot be reported: a dropped tuple's
                // values were all seen in the learning period, so a later event with them is
                // not new.
                if novelty_holds(c, 0.0) {
                    continue;
                }
                let ts = c.corr.timespan_ms;
                let rule = (plan.rules.len() + ci) as u32;
                let (Some(hist), Some(novels), Some(settled)) = (
                    self.hist.get(hi),
                    self.novel.get_mut(ci),
                    self.settled.get_mut(ci),
                ) else {
                    continue;
                };
                novels.retain(|g, tuples| {
                    let Some(h) = hist.get(g) else { return true };
                    if h.start >= horizon {
                        return true;
                    }
                    let learned = h.start.saturating_add(ts);
                    if learned > horizon {
                        // The learning period is fixed: behaviour inside it can never be
                        // reported, so it need not be kept.
                        tuples.retain(|_, n| n.head.t >= learned);
                        return !tuples.is_empty();
                    }
                    // No event that could still come is earlier than `learned`: every tuple's
                    // novelty is settled.
                    let mut s = settled.remove(g);
                    Settled::judge(&mut s, rule, c, h, tuples.drain());
                    if let Some(s) = s {
                        settled.insert(*g, s);
                    }
                    false
                });
                continue;
            }
            close_correlation(plan, ci, groups, &mut self.done[ci], horizon);
        }
        self.closed = self.closed.zip_with(per_kind, i64::max);
    }

    /// Runs the rules an index found for a record (`found`) and those no index pins
    /// (`always`), each once, in rule order.
    fn run_indexed(
        &mut self,
        plan: &Plan,
        ev: &Event<'_, '_>,
        mut found: SmallVec<[u32; 16]>,
        always: &[u32],
    ) {
        if found.is_empty() {
            self.run(plan, ev, always);
            return;
        }
        found.extend(always.iter().copied());
        found.sort_unstable();
        found.dedup();
        self.run(plan, ev, &found);
    }

    fn run(&mut self, plan: &Plan, ev: &Event<'_, '_>, candidates: &[u32]) {
        for &ri in candidates {
            let r = &plan.rules[ri as usize];
            let holds = match (ev, plan.flow_progs.get(ri as usize)) {
                (Event::Flow(rec), Some(Some(p))) => {
                    p.eval(&plan.flow_tests, rec, &mut self.flow_bits)
                }
                _ => eval_cond(&r.det.condition, r, ev, &mut self.memo, plan),
            };
            if !holds {
                continue;
            }
            self.hits[ri as usize] += 1;
            let (t, account, region) = meta(ev);
            if r.rule.generate {
                let (kind, id) = resource_ref(&r.resources, ev, account);
                let key = KeyRef {
                    finding_type: &r.rule.finding.finding_type,
                    account,
                    region,
                    kind,
                    id: &id,
                };
                match self.findings.get_mut(&key) {
                    Some(a) => {
                        a.take_rule(ri, r.rule.finding.severity);
                        a.add(t, || sample(ev));
                    }
                    None => {
                        self.findings.insert(
                            key.to_key(),
                            Agg::one(ri, r.rule.finding.severity, t, sample(ev)),
                        );
                    }
                }
            }
            for &(ci, pos) in &r.feeds {
                let hit = Hit {
                    ev,
                    t,
                    account,
                    region,
                };
                self.feed(plan, ci, pos, hit);
            }
        }
    }

    fn feed(&mut self, plan: &Plan, ci: u32, pos: u32, hit: Hit<'_, '_, '_>) {
        let Hit { ev, t, .. } = hit;
        let c = &plan.correlations[ci as usize];
        if let Some(hi) = c.history
            && let Some((rec, h, group, values)) = self.seen_memo.take()
            && rec == self.memo.record
            && h == hi
        {
            self.feed_novel(plan, ci, pos, hit, group, &values);
            self.seen_memo = Some((rec, h, group, values));
            return;
        }
        let flow = match ev {
            Event::Flow(r) => flow_group_id(r, &c.group_refs),
            _ => None,
        };
        let gid = flow.unwrap_or_else(|| {
            let mut group = std::mem::take(&mut self.key_buf);
            group.clear();
            for (i, f) in c.group_refs.iter().enumerate() {
                if i > 0 {
                    group.push(SEP);
                }
                ev.with_first_text(f, |t| group.push_str(t.unwrap_or_default()));
            }
            let gid = group_id(&group);
            self.key_buf = group;
            gid
        });
        if let Some(hi) = c.history {
            let values = self.see(c, hi, ev, t, gid);
            self.feed_novel(plan, ci, pos, hit, gid, &values);
            self.seen_memo = Some((self.memo.record, hi, gid, values));
            return;
        }
        self.feed_group(plan, ci, pos, hit, gid);
    }

    /// Updates a `first_seen` history with an event; returns the hashes of its signal values.
    fn see(
        &mut self,
        c: &crate::plan::CorrelationRule,
        hi: usize,
        ev: &Event<'_, '_>,
        t: i64,
        group: GroupId,
    ) -> SmallVec<[u64; 4]> {
        let values: SmallVec<[u64; 4]> = c
            .field_refs
            .iter()
            // A value the event lacks is the empty one here.
            .map(|f| field_hash(ev, f).unwrap_or_else(|| value_hash("")))
            .collect();
        let nf = values.len();
        let hist = &mut self.hist[hi];
        hist.entry(group)
            .or_insert_with(|| History::new(nf))
            .see(t, &values);
        values
    }

    /// Feeds a `first_seen` correlation's behaviour (positions after the first) with an event
    /// whose history update is done.
    fn feed_novel(
        &mut self,
        plan: &Plan,
        ci: u32,
        pos: u32,
        hit: Hit<'_, '_, '_>,
        group: GroupId,
        values: &[u64],
    ) {
        let Hit {
            ev,
            t,
            account,
            region,
        } = hit;
        let c = &plan.correlations[ci as usize];
        if t < c.earliest(&self.closed) {
            self.late += 1;
        }
        if pos == 0 {
            return;
        }
        // Inside a fixed learning period: the tuple's values were all first seen in it (the
        // history has just seen them), so it has no new value and is never reported; unless the
        // rule reports tuples without one.
        if let Some(start) = c
            .history
            .and_then(|hi| self.learning.0.get(hi))
            .and_then(|m| m.get(&group))
            && t < start.saturating_add(c.corr.timespan_ms)
            && !novelty_holds(c, 0.0)
        {
            return;
        }
        let strings = &mut self.strings;
        let record = self.memo.record;
        let mut head = || strings.head_of(record, c, ev, t, account, region);
        let tuples = self.novel[ci as usize].entry(group).or_default();
        match tuples.get_mut(values) {
            Some(n) if t > n.head.t => {
                n.count += 1;
                n.last = n.last.max(t);
            }
            Some(n) => n.merge(Novel {
                count: 1,
                last: t,
                head: head(),
            }),
            None => {
                let head = head();
                tuples.insert(
                    values.to_vec(),
                    Novel {
                        count: 1,
                        last: t,
                        head,
                    },
                );
            }
        }
    }

    /// Feeds a window correlation with an event of group `group`.
    fn feed_group(&mut self, plan: &Plan, ci: u32, pos: u32, hit: Hit<'_, '_, '_>, group: GroupId) {
        let Hit {
            ev,
            t,
            account,
            region,
        } = hit;
        let c = &plan.correlations[ci as usize];
        let (width, span) = window_shape(c);
        let b = t.div_euclid(width);
        if b.saturating_add(span) <= c.earliest(&self.closed).div_euclid(width) {
            self.late += 1;
        }
        let nrules = c.corr.rules.len();
        let sum = c.corr.kind == CorrelationKind::ValueSum;
        // value_sum adds the field's number; value_count keeps the value's hash.
        let (add, hash) = match &c.field_ref {
            Some(f) if sum => match flow_number(ev, f) {
                Some(n) => (n.map_or(0.0, |n| n as f64), None),
                None => (
                    ev.with_first_text(f, |t| {
                        t.and_then(|t| t.trim().parse::<f64>().ok()).unwrap_or(0.0)
                    }),
                    None,
                ),
            },
            Some(f) => (0.0, field_hash(ev, f)),
            None => (0.0, None),
        };
        let bucket = self.corr[ci as usize].slot(b).entry(group).or_default();
        bucket.count += 1;
        match c.corr.kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                if let Some(p) = bucket.stat.times_mut(nrules).get_mut(pos as usize) {
                    *p = Some(p.map_or((t, t), |(f, l)| (f.min(t), l.max(t))));
                }
            }
            CorrelationKind::ValueSum => bucket.stat.add_sum(add),
            _ => {
                if let Some(h) = hash {
                    bucket.stat.add_value(h, c.distinct_cap);
                }
            }
        }
        // The head is the earliest event; build it only when this event can be it.
        if bucket.head.as_ref().is_none_or(|h| t <= h.t) {
            let head = self
                .strings
                .head_of(self.memo.record, c, ev, t, account, region);
            if bucket.head.as_ref().is_none_or(|h| head < *h) {
                bucket.head = Some(head);
            }
        }
        bucket.last = bucket.last.max(t);
    }
}

/// Whether a `first_seen` tuple with `new` values not seen in the learning period is reported
/// (default: at least one new value).
fn novelty_holds(c: &crate::plan::CorrelationRule, new: f64) -> bool {
    if c.corr.condition.is_empty() {
        return new >= 1.0;
    }
    c.corr.condition.iter().all(|(op, v)| op.holds(new, *v))
}

/// Closes the windows of window correlation `ci` that no event at or after `horizon` can change
/// (see [`Detector::close_windows`]): judges each group's windows that start at a sub-bucket `k`
/// with `k + span <= hb` (every sub-bucket they cover is complete), marks the buckets of those
/// that match, drops the sub-buckets no open window can still mark, and folds their marked
/// buckets, in time order, into the group's finding in `done` (the first one folded gives its
/// key).
fn close_correlation(
    plan: &Plan,
    ci: usize,
    w: &mut Windows,
    done: &mut HashMap<GroupId, (Agg, Key), GroupIdHash>,
    horizon: i64,
) {
    let c = &plan.correlations[ci];
    let (width, span) = window_shape(c);
    let hb = horizon.div_euclid(width);
    let rule = (plan.rules.len() + ci) as u32; // correlations come after the detections
    let cut = w
        .slots
        .partition_point(|(k, _)| k.saturating_add(span) <= hb);
    if cut == 0 {
        return;
    }
    // Judged first, marked after: a window's judgement reads no marks.
    let mut marks: Vec<(usize, usize, GroupId)> = Vec::new();
    for si in 0..cut {
        let start = w.slots[si].0;
        let end = si + w.slots[si..].partition_point(|(k, _)| *k < start.saturating_add(span));
        let (slot, later) = (&w.slots[si].1, &w.slots[si + 1..end]);
        for (g, first) in slot {
            let mut others = later.iter().filter_map(|(_, s)| s.get(g)).peekable();
            // Most windows hold one bucket: judged as it is, without merging it into a fresh
            // one (for `value_count` and the temporal kinds a heap copy of its statistic).
            let matches = if others.peek().is_none() {
                window_matches(c, first)
            } else {
                let mut win = Bucket::default();
                win.merge_stats(first, c.distinct_cap);
                for x in others {
                    win.merge_stats(x, c.distinct_cap);
                }
                window_matches(c, &win)
            };
            if matches {
                marks.push((si, end, *g));
            }
        }
    }
    for (si, end, g) in marks {
        for (_, slot) in &mut w.slots[si..end] {
            if let Some(x) = slot.get_mut(&g) {
                x.marked = true;
            }
        }
    }
    for (_, slot) in w.slots.drain(..cut) {
        for (g, x) in slot {
            let (true, Some(head)) = (x.marked, x.head) else {
                continue;
            };
            let part = head.part(rule, c, x.count, x.last);
            match done.get_mut(&g) {
                Some((a, _)) => a.merge(part),
                None => {
                    let key = head.key(c);
                    done.insert(g, (part, key));
                }
            }
        }
    }
}

/// A window correlation's sub-bucket width (ms) and its timespan in sub-buckets.
fn window_shape(c: &crate::plan::CorrelationRule) -> (i64, i64) {
    let width = (c.corr.timespan_ms / SUB_BUCKETS).max(1000);
    (width, c.corr.timespan_ms.div_euclid(width).max(1))
}

/// Adds a group's finding to the scan's findings.
fn merge_into(all: &mut HashMap<Key, Agg>, key: Key, a: Agg) {
    merge_keyed(all, [(key, a)], Agg::merge);
}

fn window_matches(c: &crate::plan::CorrelationRule, w: &Bucket) -> bool {
    let n = c.corr.rules.len();
    let seen = w.stat.times().iter().filter(|x| x.is_some()).count();
    let value = match c.corr.kind {
        CorrelationKind::EventCount => w.count as f64,
        CorrelationKind::ValueCount => w.stat.distinct().len() as f64,
        CorrelationKind::ValueSum => w.stat.sum(),
        CorrelationKind::Temporal => seen as f64,
        CorrelationKind::FirstSeen => return false, // judged in `finish` against the history
        CorrelationKind::TemporalOrdered => {
            // In order: each rule has an event no earlier than the previous rule's earliest.
            let mut cursor = i64::MIN;
            let mut ok = 0;
            for i in 0..n {
                match w.stat.times().get(i).copied().flatten() {
                    Some((f, l)) if l >= cursor => {
                        cursor = cursor.max(f);
                        ok += 1;
                    }
                    _ => break,
                }
            }
            ok as f64
        }
    };
    if c.corr.condition.is_empty() {
        return match c.corr.kind {
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => value >= n as f64,
            _ => false,
        };
    }
    c.corr.condition.iter().all(|(op, v)| op.holds(value, *v))
}

impl RecordSink for Detector {
    fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
        if self.trusted(r.source_ip_addr()) {
            self.st.suppressed += 1;
            return;
        }
        let plan = &*self.plan;
        self.st.memo.next();
        let ev = Event::CloudTrail(r);
        if !plan.ct_by_name.is_empty() {
            let name = &r.event_name;
            let found = with_lowercase(name, |n| plan.ct_by_name.get(n));
            if let Some(c) = found {
                self.st.run(plan, &ev, c);
            }
        }
        if !plan.ct_prefilters.is_empty() {
            let cands = prefiltered(plan, &ev);
            if !cands.is_empty() {
                self.st.run(plan, &ev, &cands);
            }
        }
        if !plan.ct_always.is_empty() {
            self.st.run(plan, &ev, &plan.ct_always);
        }
    }

    fn flow(&mut self, r: &FlowRecord<'_>) {
        if self.trusted(r.srcaddr) || self.trusted(r.dstaddr) {
            self.st.suppressed += 1;
            return;
        }
        let plan = &*self.plan;
        self.st.memo.next();
        self.st.flow_bits.clear();
        if plan.flow.is_empty() {
            return;
        }
        let ev = Event::Flow(r);
        // The rules of this record's port and protocol, and those no index pins, in rule order.
        let mut cands: SmallVec<[u32; 16]> = SmallVec::new();
        if let Some(masks) = &plan.flow_masks {
            use crate::plan::FlowMasks;
            let mut m = masks.always.clone();
            for (field, map) in &masks.by_value {
                if let Some(b) = crate::flowtest::number(r, *field).and_then(|n| map.get(&n)) {
                    FlowMasks::add(&mut m, b);
                }
            }
            FlowMasks::rules(&plan.flow, &m, &mut cands);
            self.st.run(plan, &ev, &cands);
            return;
        }
        // An index by text (some indexed value is not a canonical number).
        for (field, map) in &plan.flow_index {
            let mut vals = Vals::new();
            ev.values_ref(field, &mut vals);
            for t in vals.iter().filter_map(|v| v.text()) {
                if let Some(rs) = with_lowercase(t, |l| map.get(l)) {
                    cands.extend(rs.iter().copied());
                }
            }
        }
        self.st.run_indexed(plan, &ev, cands, &plan.flow_always);
    }

    fn dns(&mut self, r: &DnsRecord<'_>) {
        let plan = &*self.plan;
        self.st.memo.next();
        if !plan.dns.is_empty() {
            let name = r.query_name.as_ref();
            let derived = match self.st.names.get(name) {
                Some(d) => Arc::clone(d),
                None => {
                    if self.st.names.len() >= NAME_CACHE {
                        self.st.names.clear();
                    }
                    let d = Arc::new(crate::fields::DnsDerived::default());
                    self.st.names.insert(name.into(), Arc::clone(&d));
                    d
                }
            };
            let lazy = crate::fields::DnsLazy::default();
            let ev = Event::Dns(r, &derived, &lazy);
            // The rules of the domains the name is under, read as the `query_name` field gives
            // it to `DomainSet::matches`.
            let mut cands: SmallVec<[u32; 16]> = SmallVec::new();
            let field = name.strip_suffix('.').unwrap_or(name);
            trailhound_rules::matcher::any_domain_suffix(field, |d| {
                if let Some(rs) = plan.dns_by_domain.get(d) {
                    cands.extend(rs.iter().copied());
                }
                false
            });
            self.st.run_indexed(plan, &ev, cands, &plan.dns_always);
        }
    }
}

/// The rules the prefilters let through for a record (sorted, unique).
fn prefiltered(plan: &Plan, ev: &Event<'_, '_>) -> smallvec::SmallVec<[u32; 8]> {
    let mut cands: smallvec::SmallVec<[u32; 8]> = smallvec::SmallVec::new();
    for pf in &plan.ct_prefilters {
        let mut vals = Vals::new();
        match pf {
            Prefilter::Cidr { field, sets } => {
                ev.values_ref(field, &mut vals);
                for ip in vals
                    .iter()
                    .filter_map(|v| v.text())
                    .filter_map(|t| trailhound_model::flow::parse_ip(t.trim()))
                {
                    cands.extend(
                        sets.iter()
                            .filter(|(set, _)| !set.is_empty() && set.contains(ip))
                            .map(|(_, r)| *r),
                    );
                }
            }
            Prefilter::Substr {
                field,
                subs,
                rule_of,
            } => {
                ev.values_ref(field, &mut vals);
                for t in vals.iter().filter_map(|v| v.text()) {
                    with_lowercase(t, |t| {
                        // Most values match no pattern: whether any does is answered first.
                        if subs.is_match(t) {
                            cands.extend(subs.matching(t).filter_map(|p| rule_of.get(p).copied()));
                        }
                    });
                }
            }
            Prefilter::Eq { field, map } => {
                ev.values_ref(field, &mut vals);
                for t in vals.iter().filter_map(|v| v.text()) {
                    if let Some(rs) = with_lowercase(t, |l| map.get(l)) {
                        cands.extend(rs.iter().copied());
                    }
                }
            }
        }
    }
    cands.sort_unstable();
    cands.dedup();
    cands
}

/// The detection rules (indices into [`Plan::rules`]) whose condition holds for a CloudTrail
/// record, ignoring trusted lists and aggregation: what a differential test against another Sigma
/// implementation compares.
pub fn matching_rules(plan: &Plan, r: &CloudTrailRecord<'_>) -> Vec<u32> {
    let ev = Event::CloudTrail(r);
    let mut memo = Memo::new(plan.items);
    let mut out: Vec<u32> = with_lowercase(&r.event_name, |n| plan.ct_by_name.get(n))
        .into_iter()
        .flatten()
        .chain(plan.ct_always.iter())
        .copied()
        .chain(prefiltered(plan, &ev))
        .filter(|&i| {
            let r = &plan.rules[i as usize];
            eval_cond(&r.det.condition, r, &ev, &mut memo, plan)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// True when a record of `kind` could meet any rule (parse-only scans skip the engine).
pub fn has_rules(plan: &Plan, kind: LogKind) -> bool {
    match kind {
        LogKind::CloudTrail => {
            !plan.ct_always.is_empty()
                || !plan.ct_by_name.is_empty()
                || !plan.ct_prefilters.is_empty()
        }
        LogKind::VpcFlow => !plan.flow.is_empty(),
        LogKind::Dns => !plan.dns.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailhound_model::FlowSchema;

    fn with_flow<R>(line: &str, f: impl FnOnce(&FlowRecord<'_>) -> R) -> R {
        let schema = FlowSchema::default_v2();
        let mut ends = Vec::new();
        let r = FlowRecord::parse(line, &schema, &mut ends).expect("a valid v2 line");
        f(&r)
    }

    /// Flow rules of every condition shape: several groups, `or`, `not`, numbers and networks,
    /// as a tree and as the flat `and` of selections and negated ones.
    const FLOW_SHAPES: &str = r#"
title: Condition shapes
id: test-flow-shapes
logsource: {product: aws, service: vpcflowlogs}
detection:
  one_of:
    - {dstport: 22, protocol: 6}
    - {dstport: [53, 853], protocol: 17}
    - {packets|gt: 100000}
  private_src:
    srcaddr|cidr: [10.0.0.0/8, 192.168.0.0/16]
  rejected:
    action: REJECT
  condition: (one_of or rejected) and not private_src
level: low
finding: {type: "Recon:EC2/Portscan", severity: 2.0}
---
title: Selections and negated selections of several groups
id: test-flow-flat
logsource: {product: aws, service: vpcflowlogs}
detection:
  any_of:
    - {dstport: [80, 3389], protocol: 6}
    - {protocol: 1}
    - {bytes|gte: 1000}
  accepted:
    action: ACCEPT
  quiet:
    - {dstport: 443}
    - {srcaddr|cidr: [10.0.0.0/8, 192.168.0.0/16], bytes|lt: 4}
  condition: any_of and accepted and not quiet
level: low
finding: {type: "Recon:EC2/Portscan", severity: 2.0}
"#;

    #[test]
    fn compiled_flow_rules_answer_as_the_general_walk() {
        let (mut set, _) = trailhound_rules::load(&trailhound_rules::LoadOptions {
            bundled: true,
            ..Default::default()
        });
        for doc in trailhound_rules::yaml::load_docs(FLOW_SHAPES).expect("YAML") {
            let rule = trailhound_rules::rule::parse_doc(&doc, "shapes.yml", &set.lists);
            set.rules.push(rule.expect("a valid rule"));
        }
        let plan = Plan::new(&set, &[]);
        let compiled: Vec<u32> = plan
            .flow
            .iter()
            .copied()
            .filter(|&i| plan.flow_progs[i as usize].is_some())
            .collect();
        assert!(compiled.len() >= 20, "the pack's flow rules compile");
        // Both forms of program: a tree (`or` under `and`) and the flat `and` of selections.
        for (id, flat) in [("test-flow-shapes", false), ("test-flow-flat", true)] {
            let prog = compiled
                .iter()
                .find(|&&i| plan.rules[i as usize].rule.id == id)
                .and_then(|&i| plan.flow_progs[i as usize].as_ref());
            assert_eq!(prog.map(|p| p.is_flat()), Some(flat), "{id}");
        }
        // Addresses of every kind the rules tell apart, the threat lists' first entries among
        // them; ports, protocols and counts on both sides of the rules' values.
        let mut addrs: Vec<String> = [
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "100.64.0.9",
            "8.8.8.8",
            "1.1.1.1",
            "198.51.100.7",
            "224.0.0.251",
            "255.255.255.255",
            "169.254.169.254",
            "127.0.0.1",
            "2001:db8::1",
            "-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for list in [
            "known-scanners",
            "tor-exit-nodes",
            "mining-pools",
            "c2-ips",
            "public-dns-resolvers",
        ] {
            let text = trailhound_rules::loader::bundled_list(list).unwrap_or("");
            let ips = trailhound_rules::lists::parse_list(text)
                .into_iter()
                .filter_map(|e| e.split('/').next()?.parse::<std::net::IpAddr>().ok())
                .take(3);
            addrs.extend(ips.map(|a| a.to_string()));
        }
        assert!(addrs.len() > 20, "the lists give addresses");
        let ports = [
            "22", "25", "53", "80", "443", "853", "3389", "5985", "389", "1389", "9200", "50000",
            "0", "-",
        ];
        let protocols = ["6", "17", "1", "47", "58", "-"];
        let counts = ["0", "1", "3", "4", "1000", "200000", "50000000", "-"];
        let actions = ["ACCEPT", "REJECT", "-"];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut pick = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let schema = FlowSchema::default_v2();
        let mut ends = Vec::new();
        let (mut held, mut evaluated) = (0, 0);
        for _ in 0..20_000 {
            let line = format!(
                "2 123456789012 eni-1 {} {} {} {} {} {} {} 1718000000 1718000060 {} OK",
                addrs[pick(addrs.len())],
                addrs[pick(addrs.len())],
                ports[pick(ports.len())],
                ports[pick(ports.len())],
                protocols[pick(protocols.len())],
                counts[pick(counts.len())],
                counts[pick(counts.len())],
                actions[pick(actions.len())],
            );
            let r = FlowRecord::parse(&line, &schema, &mut ends).expect("a valid v2 line");
            let ev = Event::Flow(&r);
            // One record's results are shared by all the rules, as in a scan.
            let mut memo = Memo::new(plan.items);
            memo.next();
            let mut bits = crate::flowprog::FlowBits::default();
            for &i in &compiled {
                let rule = &plan.rules[i as usize];
                let Some(prog) = plan.flow_progs[i as usize].as_ref() else {
                    continue;
                };
                let want = eval_cond(&rule.det.condition, rule, &ev, &mut memo, &plan);
                let got = prog.eval(&plan.flow_tests, &r, &mut bits);
                assert_eq!(got, want, "{} on {line}", rule.rule.id);
                held += usize::from(got);
                evaluated += 1;
            }
        }
        // The records reach both answers often.
        assert!(
            held > evaluated / 50 && held < evaluated / 2,
            "{held} of {evaluated}"
        );
    }

    #[test]
    fn flow_groups_by_address_are_the_groups_by_text() {
        use crate::fields::FieldRef;
        let f = |name| FieldRef::resolve(LogKind::VpcFlow, Some(name));
        let schema = FlowSchema::default_v2();
        let addrs = [
            "10.0.0.5",
            "10.0.0.50",
            "198.51.100.7",
            "2001:db8::1",
            "::1",
            "-",
            // All-zero bits, as an absent address: only the kind tells them apart.
            "0.0.0.0",
        ];
        let mut lines = Vec::new();
        for a in addrs {
            for b in addrs {
                lines.push(format!(
                    "2 123456789012 eni-1 {a} {b} 40000 443 6 3 180 1718000000 1718000060 ACCEPT OK"
                ));
            }
        }
        let by = |refs: &[FieldRef]| {
            let mut ends = Vec::new();
            lines
                .iter()
                .map(|line| {
                    let r = FlowRecord::parse(line, &schema, &mut ends).expect("a valid line");
                    let ev = Event::Flow(&r);
                    let text: Vec<String> = refs
                        .iter()
                        .map(|f| ev.with_first_text(f, |t| t.unwrap_or_default().to_owned()))
                        .collect();
                    (text.join("\u{1f}"), flow_group_id(&r, refs))
                })
                .collect::<Vec<_>>()
        };
        for refs in [
            vec![f("srcaddr"), f("dstaddr")],
            vec![f("dstaddr")],
            vec![f("dstaddr"), f("srcaddr")],
        ] {
            let keys = by(&refs);
            for (ta, ia) in &keys {
                for (tb, ib) in &keys {
                    let (ia, ib) = (ia.expect("an address group-by"), ib.expect("the same"));
                    assert_eq!(ta == tb, ia == ib, "{ta:?} {tb:?}");
                }
            }
        }
        // Other group-bys are joined as text.
        for refs in [vec![f("interface-id")], vec![f("srcaddr"), f("dstport")]] {
            assert!(by(&refs).iter().all(|(_, id)| id.is_none()));
        }
    }

    #[test]
    fn typed_flow_numbers_are_the_numbers_of_their_text() {
        // What `feed_group` adds or hashes from a typed column is what it made of the column's
        // text: the same sum, and equal hashes exactly for equal texts.
        use crate::fields::FieldRef;
        let lines = [
            "2 123456789012 eni-1 10.0.0.5 198.51.100.7 40000 443 6 3 180 1718000000 1718000060 ACCEPT OK",
            "2 123456789012 eni-1 10.0.0.5 198.51.100.7 0 0 1 9999999999999999999 9007199254740993 1718000000 1718000060 REJECT OK",
            "2 123456789012 eni-1 10.0.0.5 198.51.100.7 - - - - - 1718000000 1718000060 ACCEPT OK",
            "2 123456789012 eni-1 10.0.0.5 198.51.100.7 65535 22 17 150000 1 1718000000 1718000060 ACCEPT OK",
        ];
        let mut typed = 0;
        for name in [
            "srcport",
            "dstport",
            "protocol",
            "packets",
            "bytes",
            "srcaddr",
            "interface-id",
        ] {
            let f = FieldRef::resolve(LogKind::VpcFlow, Some(name));
            let mut seen: Vec<(Option<String>, Option<u64>)> = Vec::new();
            for line in lines {
                with_flow(line, |r| {
                    let ev = Event::Flow(r);
                    let text = ev.with_first_text(&f, |t| t.map(str::to_owned));
                    match flow_number(&ev, &f) {
                        None => assert!(
                            !matches!(
                                name,
                                "srcport" | "dstport" | "protocol" | "packets" | "bytes"
                            ),
                            "{name} is typed"
                        ),
                        Some(n) => {
                            typed += 1;
                            let want = text.as_deref().map(|t| t.parse::<f64>().unwrap_or(0.0));
                            assert_eq!(n.map(|n| n as f64), want, "{name} in {line}");
                            seen.push((text, n));
                        }
                    }
                });
            }
            for (ta, na) in &seen {
                for (tb, nb) in &seen {
                    let (ha, hb) = (na.map(number_hash), nb.map(number_hash));
                    assert_eq!(ta == tb, ha == hb, "{name}: {ta:?} {tb:?}");
                }
            }
        }
        assert_eq!(typed, 5 * lines.len());
    }

    #[test]
    fn sub_buckets_stay_sorted_and_merge_bucket_by_bucket() {
        let bucket = |count, sum| Bucket {
            count,
            stat: Stat::Sum(sum),
            ..Bucket::default()
        };
        let mut a = Windows::default();
        for (k, g) in [(7, 1), (9, 1), (3, 2), (9, 2), (5, 1), (-2, 3), (9, 1)] {
            let b = a.slot(k).entry(g).or_default();
            b.count += 1;
            b.stat.add_sum(10.0);
        }
        let keys: Vec<i64> = a.slots.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [-2, 3, 5, 7, 9]);
        assert_eq!(a.slots[4].1[&1].count, 2);
        assert_eq!(a.buckets(), 6);
        // The other side: a sub-bucket `a` lacks (moved as it is), and one both hold, larger on
        // the other side (folded the other way round), with a group both hold.
        let mut b = Windows::default();
        b.slot(4).insert(1, bucket(5, 1.0));
        for g in [1, 4, 5] {
            b.slot(9).insert(g, bucket(1, 2.0));
        }
        a.merge(b, 16);
        let keys: Vec<i64> = a.slots.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [-2, 3, 4, 5, 7, 9]);
        let nine = &a.slots[5].1;
        let mut groups: Vec<u128> = nine.keys().copied().collect();
        groups.sort_unstable();
        assert_eq!(groups, [1, 2, 4, 5]);
        assert_eq!((nine[&1].count, nine[&1].stat.sum()), (3, 22.0));
        assert_eq!((nine[&2].count, nine[&4].count), (1, 1));
        assert_eq!(a.slots[2].1[&1].count, 5);
        assert_eq!(a.buckets(), 9);
    }

    #[test]
    fn a_packed_flow_sample_renders_as_the_record_does() {
        for line in [
            "2 123456789010 eni-1 172.31.16.139 198.51.100.7 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            "2 123456789010 eni-1 10.0.0.1 10.0.0.2 - - - 20 - 1418530010 1418530070 REJECT OK",
            "2 123456789010 eni-1 0.0.0.0 255.255.255.255 0 65535 255 1 9223372036854775807 1418530010 1418530070 - OK",
        ] {
            with_flow(line, |r| {
                let packed = FlowSnap::of(r).expect("IPv4 addresses pack");
                assert_eq!(
                    packed.sample(r.interface_id()),
                    sample(&Event::Flow(r)),
                    "{line}"
                );
            });
        }
    }

    #[test]
    fn a_flow_with_an_ipv6_address_keeps_its_rendered_sample() {
        let line = "2 123456789010 eni-1 2001:db8::1 198.51.100.7 443 50000 6 3 180 1418530010 1418530070 ACCEPT OK";
        with_flow(line, |r| {
            assert!(FlowSnap::of(r).is_none());
            let head = Interner::default().head(&[], &Event::Flow(r), 5, "123456789010", "");
            assert!(matches!(head.sample, Snap::Built(_)));
            let s = head.sample();
            assert_eq!(s.evidence.src_addr.as_deref(), Some("2001:db8::1"));
            assert_eq!(s, sample(&Event::Flow(r)));
        });
    }

    /// CloudTrail and resolver records whose samples cover each way a packed sample is made:
    /// with and without an event id, caller, user agent, instance, source address (IPv4 and
    /// IPv6) and query type, with escapes, upper case and a trailing dot in the name.
    const PACKED_CT: &[&str] = &[
        r#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"e-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.0 \"q\""}"#,
        r#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e 2"}"#,
        r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"ConsoleLogin"}"#,
    ];
    const PACKED_DNS: &[&str] = &[
        r#"{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"Example.COM.","query_type":"A","srcaddr":"10.0.0.9","srcids":{"instance":"i-0abc"}}"#,
        r#"{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"x.example.org.","query_type":"TXT","srcaddr":"2001:db8::1"}"#,
        r#"{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"a\tb.example.","srcaddr":"::ffff:10.0.0.1"}"#,
        r#"{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"lone.example."}"#,
    ];

    /// Heads of each packed-sample record, as `(head, sample rendered from the record)`.
    fn packed_heads() -> Vec<(Head, Sample)> {
        let mut out = Vec::new();
        let mut interner = Interner::default();
        for line in PACKED_CT {
            let r = CloudTrailRecord::parse(line).expect("a valid CloudTrail record");
            let ev = Event::CloudTrail(&r);
            out.push((interner.head(&[], &ev, 5, "1", "r"), sample(&ev)));
        }
        for line in PACKED_DNS {
            let r = DnsRecord::parse(line).expect("a valid resolver record");
            let (d, lazy) = (
                crate::fields::DnsDerived::default(),
                crate::fields::DnsLazy::default(),
            );
            let ev = Event::Dns(&r, &d, &lazy);
            out.push((interner.head(&[], &ev, 5, "1", "r"), sample(&ev)));
        }
        out
    }

    #[test]
    fn a_packed_sample_renders_as_the_record_does() {
        let heads = packed_heads();
        let packed = heads
            .iter()
            .filter(|(h, _)| matches!(h.sample, Snap::Packed(_)))
            .count();
        // All but the CloudTrail record without an event id (its line shows the time).
        assert_eq!(packed, heads.len() - 1);
        for (h, s) in &heads {
            assert_eq!(&h.sample(), s);
        }
        let v6 = &heads[PACKED_CT.len() + 1].0.sample();
        assert_eq!(v6.evidence.src_addr.as_deref(), Some("2001:db8::1"));
        assert_eq!(v6.text, "x.example.org TXT from 2001:db8::1");
    }

    #[test]
    fn packed_heads_order_as_their_samples_do() {
        let heads = packed_heads();
        for (a, sa) in &heads {
            for (b, sb) in &heads {
                assert_eq!(a.cmp(b), sa.cmp(sb), "{} vs {}", sa.text, sb.text);
            }
        }
        // Equal lines, different facts: the facts decide, as they do for samples.
        let same_line = |src: &str| {
            let p = Packed::new(
                &["n A from i-1"],
                [
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(src),
                    Some("n"),
                    Some("A"),
                ],
            )
            .expect("short parts pack");
            let ctx = Interner::default().get(CtxRef {
                account: "1",
                region: "r",
                kind: "Account",
                id: "1",
                interface: None,
            });
            Head {
                t: 5,
                ctx,
                sample: Snap::Packed(p),
            }
        };
        let (x, y) = (same_line("10.0.0.9"), same_line("10.0.0.10"));
        assert_eq!(x.cmp(&y), x.sample().cmp(&y.sample()));
        assert_eq!(
            x.cmp(&y),
            std::cmp::Ordering::Greater,
            "\"10.0.0.9\" > \"10.0.0.10\""
        );
    }

    #[test]
    fn the_interner_shares_equal_contexts_only() {
        let mut i = Interner::default();
        let c = |interface| CtxRef {
            account: "111122223333",
            region: "eu-west-1",
            kind: "Instance",
            id: "i-1",
            interface,
        };
        let a = i.get(c(Some("eni-1")));
        assert!(Arc::ptr_eq(&a, &i.get(c(Some("eni-1")))));
        // Each field tells contexts apart, and a missing interface is not an empty one.
        let others = [
            i.get(c(Some("eni-2"))),
            i.get(c(None)),
            i.get(c(Some(""))),
            i.get(CtxRef {
                id: "i-2",
                ..c(Some("eni-1"))
            }),
            i.get(CtxRef {
                kind: "NetworkInterface",
                ..c(Some("eni-1"))
            }),
            i.get(CtxRef {
                region: "eu-west-2",
                ..c(Some("eni-1"))
            }),
            i.get(CtxRef {
                account: "111122223334",
                ..c(Some("eni-1"))
            }),
        ];
        for o in &others {
            assert!(!Arc::ptr_eq(&a, o));
        }
        assert_eq!(i.ctxs.len(), 1 + others.len());
        assert_eq!(others[3].id.as_ref(), "i-2");
        assert_eq!(others[1].interface, None);
        assert_eq!(others[2].interface.as_deref(), Some(""));
    }

    #[test]
    fn bucket_statistics_merge_by_kind() {
        let mut a = Stat::default();
        a.add_value(3, 3);
        a.add_value(1, 3);
        let mut b = Stat::default();
        b.add_value(2, 3);
        b.add_value(9, 3);
        a.merge(&b, 3);
        assert_eq!(a.distinct(), &[1, 2, 3], "sorted, capped at 3");
        let mut s = Stat::default();
        s.add_sum(2.5);
        s.merge(&Stat::Sum(1.5), 0);
        assert_eq!(s.sum(), 4.0);
        let mut t = Stat::default();
        t.times_mut(2)[1] = Some((10, 20));
        let mut u = Stat::default();
        u.times_mut(3)[1] = Some((5, 15));
        t.merge(&u, 0);
        assert_eq!(t.times(), &[None, Some((5, 20)), None]);
    }

    /// Two rules whose one required item is a substring test: one folds case (the default) and
    /// is found through the prefilter that searches every such rule's patterns at once; the
    /// other is `|cased`, and evaluated for every record.
    const UA_RULES: &str = r#"
title: Folded user agent
id: t-ua-folded
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {userAgent|contains: [kali, parrot]}
  condition: selection
level: low
---
title: Cased user agent
id: t-ua-cased
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {userAgent|contains|cased: [Kali, Parrot]}
  condition: selection
level: low
"#;

    #[test]
    fn the_substring_prefilter_finds_what_each_rule_matches() {
        let mut set = trailhound_rules::RuleSet::default();
        for doc in trailhound_rules::yaml::load_docs(UA_RULES).expect("YAML") {
            let rule = trailhound_rules::rule::parse_doc(&doc, "ua.yml", &set.lists);
            set.rules.push(rule.expect("a valid rule"));
        }
        let plan = Plan::new(&set, &[]);
        assert!(
            plan.ct_always.len() == 1 && plan.ct_prefilters.len() == 1,
            "the folding rule is prefiltered"
        );
        // (user agent, folded rule matches, cased rule matches)
        let cases = [
            ("aws-cli/2.15 Kali Linux", true, true),
            ("aws-cli/2.15 kali linux", true, false),
            ("PARROT OS", true, false),
            ("x Parrot", true, true),
            // Lower-cased as the rule folds a value, not only its ASCII letters: `İ` becomes `i`
            // and a combining dot, the Kelvin sign a `k`.
            ("aws-cli KAL\u{130}", true, false),
            ("\u{212A}ali-rolling", true, false),
            ("Boto3/1.34 md/Botocore", false, false),
            ("", false, false),
        ];
        for (ua, folded, cased) in cases {
            let text = format!(
                r#"{{"eventTime":"2024-06-01T00:00:00Z","eventName":"ListBuckets","userAgent":{}}}"#,
                serde_json::to_string(ua).expect("a string")
            );
            let rec = CloudTrailRecord::parse(&text).expect("a record");
            let found: Vec<&str> = matching_rules(&plan, &rec)
                .iter()
                .map(|&i| plan.rules[i as usize].rule.id.as_str())
                .collect();
            let want: Vec<&str> = [(folded, "t-ua-folded"), (cased, "t-ua-cased")]
                .into_iter()
                .filter_map(|(m, id)| m.then_some(id))
                .collect();
            assert_eq!(found, want, "{ua:?}");
        }
    }
}
