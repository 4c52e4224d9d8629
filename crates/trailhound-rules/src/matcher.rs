//! Value matchers: what one `field|modifiers: values` item of a Sigma selection compiles to.
//!
//! Sigma's string semantics (case-insensitive by default, `*`/`?` wildcards with `\` escapes,
//! `contains`/`startswith`/`endswith`) are compiled once into the cheapest test that implements
//! them: a hash set for plain equality, prefix and suffix lists, one searcher for all OR-ed
//! substrings ([`Substrings`]), one `RegexSet` for the rest. Numbers, CIDRs, domains (`|domain`,
//! name and all its subdomains), `null`, `exists` and `fieldref` have their own matchers.

use hashbrown::HashSet;
use std::borrow::Cow;
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexSet};

/// One value as read from a record, for matching.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// A string (unescaped).
    Str(Cow<'a, str>),
    /// A number, as written.
    Num(Cow<'a, str>),
    /// A boolean.
    Bool(bool),
    /// JSON null.
    Null,
    /// An object or array, as its JSON text.
    Complex(&'a str),
}

impl Val<'_> {
    /// The text string matchers see.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Str(s) | Val::Num(s) => Some(s),
            Val::Bool(true) => Some("true"),
            Val::Bool(false) => Some("false"),
            Val::Null => None,
            Val::Complex(c) => Some(c),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Num(s) | Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
}

/// A string pattern after wildcard analysis (already lower-cased unless cased).
#[derive(Debug, Clone)]
pub enum StrPat {
    /// Whole-value equality.
    Eq(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// Contains.
    Contains(String),
    /// Wildcards in the middle, or a regular expression.
    Regex(Regex),
}

impl StrPat {
    fn matches(&self, v: &str) -> bool {
        match self {
            StrPat::Eq(p) => v == p,
            StrPat::Prefix(p) => v.starts_with(p.as_str()),
            StrPat::Suffix(p) => v.ends_with(p.as_str()),
            StrPat::Contains(p) => v.contains(p.as_str()),
            StrPat::Regex(r) => r.is_match(v),
        }
    }

    /// A short description for `rules explain`.
    pub fn describe(&self) -> String {
        match self {
            StrPat::Eq(p) => format!("== {p:?}"),
            StrPat::Prefix(p) => format!("startswith {p:?}"),
            StrPat::Suffix(p) => format!("endswith {p:?}"),
            StrPat::Contains(p) => format!("contains {p:?}"),
            StrPat::Regex(r) => format!("re {:?}", r.as_str()),
        }
    }
}

/// An IPv4/IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address.
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = trailhound_model::flow::parse_ip(a)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Net { addr, prefix })
    }

    /// True when `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A set of networks as prefix tables: one hash set of masked addresses per prefix length in use.
/// A few IPv4 networks (a rule's private ranges) are also kept as a list of (mask, network) pairs
/// and tested one by one: a handful of masked compares instead of a hash lookup per prefix length
/// (the private ranges use six), on every flow record and every rule that names them.
#[derive(Debug, Clone, Default)]
pub struct NetSet {
    v4: Vec<(u8, HashSet<u32>)>,
    v6: Vec<(u8, HashSet<u128>)>,
    /// The IPv4 networks as (mask, masked address) while there are at most [`NetSet::FEW`].
    few_v4: Vec<(u32, u32)>,
    /// Past [`NetSet::FEW`] IPv4 networks, one bit per /16 block of the address space: set when
    /// a network overlaps the block. An address whose block is clear is in no network, and that
    /// answer takes one load instead of a hash lookup per prefix length (a threat list of
    /// scanners uses nine; most addresses a flow record names are on no list).
    v4_blocks: Option<Box<[u64]>>,
    v4_len: usize,
    len: usize,
}

impl NetSet {
    /// IPv4 networks up to which a set tests them one by one.
    const FEW: usize = 16;

    /// Builds the tables.
    pub fn new(nets: &[Net]) -> Self {
        let mut s = NetSet::default();
        for n in nets {
            s.insert(*n);
        }
        s
    }

    /// Adds a network.
    pub fn insert(&mut self, n: Net) {
        self.len += 1;
        match n.addr {
            IpAddr::V4(a) => {
                let mask = if n.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(n.prefix))
                };
                let key = u32::from(a) & mask;
                self.v4_len += 1;
                if self.v4_len <= Self::FEW {
                    self.few_v4.push((mask, key));
                } else {
                    let few = std::mem::take(&mut self.few_v4);
                    let blocks = self.v4_blocks.get_or_insert_with(|| {
                        let mut b = vec![0u64; (1 << 16) / 64].into_boxed_slice();
                        for (m, k) in few {
                            mark_blocks(&mut b, m, k);
                        }
                        b
                    });
                    mark_blocks(blocks, mask, key);
                }
                match self.v4.iter_mut().find(|(p, _)| *p == n.prefix) {
                    Some((_, set)) => {
                        set.insert(key);
                    }
                    None => self.v4.push((n.prefix, HashSet::from([key]))),
                }
            }
            IpAddr::V6(a) => {
                let mask = if n.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(n.prefix))
                };
                let key = u128::from(a) & mask;
                match self.v6.iter_mut().find(|(p, _)| *p == n.prefix) {
                    Some((_, set)) => {
                        set.insert(key);
                    }
                    None => self.v6.push((n.prefix, HashSet::from([key]))),
                }
            }
        }
    }

    /// True when any network contains `ip`.
    ///
    /// Inlined into its callers for the few networks of a rule's private ranges (a flow record
    /// asks eight such sets, and the call around a few compares cost as much as they did);
    /// larger sets and IPv6 take [`NetSet::contains_listed`].
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        if let IpAddr::V4(a) = ip
            && self.v4_len <= Self::FEW
        {
            let a = u32::from(a);
            return self.few_v4.iter().any(|&(mask, key)| a & mask == key);
        }
        self.contains_listed(ip)
    }

    /// [`NetSet::contains`] past the few networks tested one by one (which it answers itself).
    fn contains_listed(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                if let Some(blocks) = &self.v4_blocks {
                    let block = (a >> 16) as usize;
                    if blocks
                        .get(block / 64)
                        .is_none_or(|w| w >> (block % 64) & 1 == 0)
                    {
                        return false;
                    }
                }
                self.v4.iter().any(|(p, set)| {
                    let mask = if *p == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(*p))
                    };
                    set.contains(&(a & mask))
                })
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|(p, set)| {
                    let mask = if *p == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(*p))
                    };
                    set.contains(&(a & mask))
                })
            }
        }
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Sets the bits of the /16 blocks that the IPv4 network `key`/`mask` overlaps.
fn mark_blocks(blocks: &mut [u64], mask: u32, key: u32) {
    let (lo, hi) = (key >> 16, (key | !mask) >> 16);
    for block in lo..=hi {
        if let Some(w) = blocks.get_mut(block as usize / 64) {
            *w |= 1 << (block % 64);
        }
    }
}

/// Domains matched with all their subdomains (a reversed-label lookup: each label boundary of the
/// queried name is one hash lookup).
#[derive(Debug, Clone, Default)]
pub struct DomainSet {
    names: HashSet<String>,
}

impl DomainSet {
    /// Builds the set (names are lower-cased, trailing dots dropped).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        DomainSet {
            names: names
                .into_iter()
                .map(normalise_domain)
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// The domains, normalised (lower case, no trailing dot).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// True when `name` or one of its parent domains is in the set.
    pub fn matches(&self, name: &str) -> bool {
        any_domain_suffix(name, |d| self.names.contains(d))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Calls `f` with `name` as a [`DomainSet`] reads it (trimmed, trailing dots dropped, ASCII
/// lower case) and then with each of its parent domains, longest first, until `f` returns true;
/// returns whether it did. Copies the name only when it has upper-case letters (nearly none do,
/// and a resolver record meets a dozen domain lists).
///
/// ```
/// use trailhound_rules::matcher::any_domain_suffix;
/// let mut seen = Vec::new();
/// assert!(!any_domain_suffix(" Mail.Example.com. ", |d| { seen.push(d.to_owned()); false }));
/// assert_eq!(seen, ["mail.example.com", "example.com", "com"]);
/// assert!(any_domain_suffix("a.b.c", |d| d == "b.c"));
/// ```
pub fn any_domain_suffix(name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    let t = name.trim().trim_end_matches('.');
    let n: Cow<'_, str> = if t.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(t.to_ascii_lowercase())
    } else {
        Cow::Borrowed(t)
    };
    let mut rest = n.as_ref();
    loop {
        if f(rest) {
            return true;
        }
        match rest.find('.') {
            Some(i) => rest = &rest[i + 1..],
            None => return false,
        }
    }
}

fn normalise_domain(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Calls `f` with `v` lower-cased, without allocating when `v` is ASCII of at most 256 bytes (the
/// hot path: API names, services, identity types, user agents) or already lower case.
///
/// ```
/// use trailhound_rules::matcher::with_lowercase;
/// assert_eq!(with_lowercase("StopLogging", str::to_owned), "stoplogging");
/// assert_eq!(with_lowercase("ÉTÉ", str::to_owned), "été");
/// ```
pub fn with_lowercase<R>(v: &str, f: impl FnOnce(&str) -> R) -> R {
    if v.is_ascii() {
        if !v.bytes().any(|b| b.is_ascii_uppercase()) {
            return f(v);
        }
        if v.len() <= 256 {
            let mut buf = [0u8; 256];
            let out = &mut buf[..v.len()];
            out.copy_from_slice(v.as_bytes());
            out.make_ascii_lowercase();
            // ASCII in, ASCII out: always valid UTF-8.
            return f(std::str::from_utf8(out).unwrap_or(v));
        }
    } else if !v.chars().any(char::is_uppercase) {
        return f(v);
    }
    f(&v.to_lowercase())
}

/// Several substrings searched for at once: does any occur in a text, and which.
///
/// An aho-corasick automaton answers both, but it picks its own prefilter from the patterns'
/// first bytes, and the substrings rules look for in user agents (`exec-env/aws_lambda` and
/// `exec-env/aws_ecs`; `kali`, `parrot`, `pentoo`, `trufflehog`) start with bytes that are
/// everywhere in such texts: it then ran its automaton byte by byte, about a nanosecond a byte,
/// on most of a CloudTrail scan's records. Whether any pattern occurs is asked first of a packed
/// (Teddy, SIMD) searcher, about a quarter of that on typical user agents; the automaton is kept
/// for naming the patterns that occur, and for when there is no packed searcher (no SIMD support,
/// an empty pattern, too many patterns).
///
/// ```
/// use trailhound_rules::matcher::Substrings;
/// let s = Substrings::new(&["exec-env/aws_lambda", "exec-env/aws_ecs"]).unwrap();
/// let ua = "boto3/1.34 exec-env/aws_lambda_python3.12";
/// assert!(s.is_match(ua));
/// assert_eq!(s.matching(ua).collect::<Vec<_>>(), [0]);
/// assert!(!s.is_match("aws-cli/2.15.30 python/3.11.8"));
/// ```
#[derive(Debug, Clone)]
pub struct Substrings {
    ac: AhoCorasick,
    packed: Option<aho_corasick::packed::Searcher>,
}

impl Substrings {
    /// A searcher for `patterns`, matched as they are (case-sensitive, byte for byte).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P]) -> Result<Self, String> {
        let ac = AhoCorasick::new(patterns).map_err(|e| e.to_string())?;
        let packed = aho_corasick::packed::Config::new()
            .builder()
            .extend(patterns)
            .build();
        Ok(Substrings { ac, packed })
    }

    /// True when one of the patterns occurs in `text`.
    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        match &self.packed {
            Some(p) => p.find(text).is_some(),
            None => self.ac.is_match(text),
        }
    }

    /// The index of every pattern that occurs in `text` (overlapping occurrences included; an
    /// index once per occurrence).
    pub fn matching<'a>(&'a self, text: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.ac
            .find_overlapping_iter(text)
            .map(|m| m.pattern().as_usize())
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.ac.patterns_len()
    }

    /// True when there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the packed searcher answers [`Substrings::is_match`] (for tests and `rules
    /// explain`).
    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }
}

/// OR-ed (or, with `all`, AND-ed) string patterns of one field.
#[derive(Debug, Clone, Default)]
pub struct StrSet {
    /// Case-sensitive (`|cased`, or `|re` without `i`).
    pub cased: bool,
    /// Every pattern must match (`|all`).
    pub all: bool,
    /// Plain equalities (OR mode).
    pub eq: HashSet<String>,
    /// Substrings searched for at once (OR mode), when there are several.
    pub contains: Option<Substrings>,
    /// Everything else (and everything, in `all` mode).
    pub others: Vec<StrPat>,
    /// Regexes folded into one set (OR mode, case-sensitive patterns carry their own flags).
    pub regex_set: Option<RegexSet>,
    /// `null` was one of the values.
    pub null_ok: bool,
    /// Every substring pattern (OR mode), for building indexes across rules.
    pub substrings: Vec<String>,
}

impl StrSet {
    /// Builds a set from patterns.
    pub fn build(pats: Vec<StrPat>, cased: bool, all: bool, null_ok: bool) -> Result<Self, String> {
        let mut s = StrSet {
            cased,
            all,
            null_ok,
            ..StrSet::default()
        };
        if all {
            s.others = pats;
            return Ok(s);
        }
        let mut subs = Vec::new();
        let mut regexes = Vec::new();
        for p in pats {
            match p {
                StrPat::Eq(v) => {
                    s.eq.insert(v);
                }
                StrPat::Contains(v) => subs.push(v),
                StrPat::Regex(r) => regexes.push(r.as_str().to_owned()),
                other => s.others.push(other),
            }
        }
        s.substrings = subs.clone();
        if subs.len() == 1 {
            s.others.push(StrPat::Contains(subs.remove(0)));
        } else if !subs.is_empty() {
            s.contains = Some(Substrings::new(&subs)?);
        }
        if regexes.len() == 1 {
            s.others.push(StrPat::Regex(
                Regex::new(&regexes[0]).map_err(|e| e.to_string())?,
            ));
        } else if !regexes.is_empty() {
            s.regex_set = Some(RegexSet::new(&regexes).map_err(|e| e.to_string())?);
        }
        Ok(s)
    }

    /// Calls `f` with `v` case-folded (unless cased), without allocating for ASCII values up to
    /// 256 bytes (the hot path: API names, sources, agents).
    fn with_folded<R>(&self, v: &str, f: impl FnOnce(&str) -> R) -> R {
        if self.cased {
            f(v)
        } else {
            with_lowercase(v, f)
        }
    }

    fn fold<'v>(&self, v: &'v str) -> Cow<'v, str> {
        if self.cased || !v.chars().any(char::is_uppercase) {
            Cow::Borrowed(v)
        } else {
            Cow::Owned(v.to_lowercase())
        }
    }

    /// True when the set is only whole-value equalities in OR mode (no `|all`, `null`,
    /// substrings, wildcards or regexes) and has at least one: what an index or a shortcut over
    /// exact values can stand in for.
    pub fn is_plain_eq(&self) -> bool {
        !self.all
            && !self.null_ok
            && self.contains.is_none()
            && self.others.is_empty()
            && self.regex_set.is_none()
            && !self.eq.is_empty()
    }

    /// True when one value matches (OR mode).
    pub fn matches_one(&self, v: &str) -> bool {
        if let Some(r) = &self.regex_set
            && r.is_match(v)
        {
            return true;
        }
        self.with_folded(v, |f| {
            self.eq.contains(f)
                || self.contains.as_ref().is_some_and(|c| c.is_match(f))
                || self.others.iter().any(|p| match p {
                    StrPat::Regex(r) => r.is_match(v),
                    p => p.matches(f),
                })
        })
    }

    /// True when every pattern matches one of the values (`all` mode).
    pub fn matches_all(&self, vals: &[&str]) -> bool {
        let folded: Vec<Cow<'_, str>> = vals.iter().map(|v| self.fold(v)).collect();
        self.others.iter().all(|p| match p {
            StrPat::Regex(r) => vals.iter().any(|v| r.is_match(v)),
            p => folded.iter().any(|v| p.matches(v)),
        })
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.eq.len()
            + self.contains.as_ref().map_or(0, Substrings::len)
            + self.others.len()
            + self.regex_set.as_ref().map_or(0, RegexSet::len)
    }

    /// True when there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one detection item tests.
#[derive(Debug, Clone)]
pub enum Test {
    /// String patterns.
    Str(StrSet),
    /// Numeric comparisons (all must hold for `all`, else any).
    Num(Vec<(Cmp, f64)>),
    /// Networks.
    Cidr(NetSet),
    /// Domains and subdomains.
    Domain(DomainSet),
    /// The field is absent or null.
    Null,
    /// The field is (or is not) present.
    Exists(bool),
    /// The value equals another field's value (any of the listed fields).
    FieldRef(Vec<String>),
}

/// Appends `a` in lower-case hexadecimal without leading zeros.
fn push_hex(s: &mut String, a: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (128 - a.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        s.push(char::from(HEX[((a >> (4 * i)) & 15) as usize]));
    }
}

impl Test {
    /// A text that is the same for two tests exactly when they test the same thing (sets are
    /// listed sorted): the plan evaluates each distinct (field, test) once per record, however
    /// many rules repeat it.
    pub fn signature(&self) -> String {
        fn sorted<T: std::fmt::Debug + Ord>(it: impl Iterator<Item = T>) -> Vec<T> {
            let mut v: Vec<T> = it.collect();
            v.sort();
            v
        }
        match self {
            Test::Str(s) => format!(
                "str cased={} all={} null={} eq={:?} subs={:?} others={:?} re={:?}",
                s.cased,
                s.all,
                s.null_ok,
                sorted(s.eq.iter()),
                s.substrings,
                s.others,
                s.regex_set.as_ref().map(RegexSet::patterns),
            ),
            // Written by hand, not through `Debug`: threat lists put tens of thousands of
            // networks in one test, and formatting them was a seventh of a scan's start-up.
            Test::Cidr(n) => {
                let mut s = String::with_capacity(16 + 33 * n.len);
                s.push_str("cidr");
                for (family, tables) in [
                    (
                        "v4",
                        n.v4.iter()
                            .map(|(p, t)| (*p, sorted(t.iter().map(|&a| u128::from(a)))))
                            .collect::<Vec<_>>(),
                    ),
                    (
                        "v6",
                        n.v6.iter()
                            .map(|(p, t)| (*p, sorted(t.iter().copied())))
                            .collect(),
                    ),
                ] {
                    s.push(' ');
                    s.push_str(family);
                    for (prefix, addrs) in sorted(tables.into_iter()) {
                        s.push_str(" /");
                        s.push_str(&prefix.to_string());
                        s.push(':');
                        for a in addrs {
                            push_hex(&mut s, a);
                            s.push(',');
                        }
                    }
                }
                s
            }
            Test::Domain(d) => {
                let mut s = String::from("domain");
                for name in sorted(d.names.iter()) {
                    // Length first: no separator could be told from a name's own bytes.
                    s.push(' ');
                    s.push_str(&name.len().to_string());
                    s.push(':');
                    s.push_str(name);
                }
                s
            }
            other => format!("{other:?}"),
        }
    }

    /// True when no value can pass: an empty network or domain set (a list that was not given,
    /// such as an empty threat list). The engine then does not read the field at all.
    pub fn never_matches(&self) -> bool {
        match self {
            Test::Cidr(set) => set.is_empty(),
            Test::Domain(set) => set.is_empty(),
            _ => false,
        }
    }

    /// Evaluates the test against the values found at the field (empty: the field is absent).
    /// `other` reads another field, for `fieldref`.
    pub fn eval(&self, vals: &[Val<'_>], other: &mut dyn FnMut(&str) -> Vec<String>) -> bool {
        match self {
            Test::Null => vals.is_empty() || vals.iter().all(|v| *v == Val::Null),
            Test::Exists(want) => {
                (!vals.is_empty() && vals.iter().any(|v| *v != Val::Null)) == *want
            }
            Test::Str(s) => {
                if vals.is_empty() || vals.iter().all(|v| *v == Val::Null) {
                    return s.null_ok;
                }
                if s.all {
                    let texts: Vec<&str> = vals.iter().filter_map(Val::text).collect();
                    s.matches_all(&texts)
                } else {
                    vals.iter().filter_map(Val::text).any(|t| s.matches_one(t))
                }
            }
            Test::Num(cmps) => vals.iter().filter_map(Val::number).any(|x| {
                cmps.iter().any(|(c, v)| match c {
                    Cmp::Gt => x > *v,
                    Cmp::Gte => x >= *v,
                    Cmp::Lt => x < *v,
                    Cmp::Lte => x <= *v,
                })
            }),
            Test::Cidr(set) if set.is_empty() => false,
            Test::Domain(set) if set.is_empty() => false,
            Test::Cidr(set) => vals
                .iter()
                .filter_map(Val::text)
                .filter_map(|t| trailhound_model::flow::parse_ip(t.trim()))
                .any(|ip| set.contains(ip)),
            Test::Domain(set) => vals.iter().filter_map(Val::text).any(|t| set.matches(t)),
            Test::FieldRef(fields) => fields.iter().any(|f| {
                let others = other(f);
                vals.iter()
                    .filter_map(Val::text)
                    .any(|t| others.iter().any(|o| o == t))
            }),
        }
    }

    /// A short description for `rules explain`.
    pub fn describe(&self) -> String {
        match self {
            Test::Str(s) => {
                let mut parts = Vec::new();
                if !s.eq.is_empty() {
                    parts.push(format!("hash-set of {}", s.eq.len()));
                }
                if let Some(c) = &s.contains {
                    let how = if c.is_packed() {
                        "teddy"
                    } else {
                        "aho-corasick"
                    };
                    parts.push(format!("{how} of {}", c.len()));
                }
                if let Some(r) = &s.regex_set {
                    parts.push(format!("regex-set of {}", r.len()));
                }
                for p in &s.others {
                    parts.push(p.describe());
                }
                format!(
                    "{}{}{}",
                    if s.all { "all of " } else { "" },
                    parts.join(" | "),
                    if s.cased { " (cased)" } else { "" }
                )
            }
            Test::Num(c) => format!("numeric {c:?}"),
            Test::Cidr(n) => format!("prefix table of {} networks", n.len()),
            Test::Domain(d) => format!("domain set of {} (with subdomains)", d.len()),
            Test::Null => "is null".into(),
            Test::Exists(b) => format!("exists == {b}"),
            Test::FieldRef(f) => format!("equals field {f:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_equal_exactly_for_the_same_sets() {
        let cidr = |nets: &[&str]| {
            let nets: Vec<Net> = nets.iter().filter_map(|n| Net::parse(n)).collect();
            assert!(!nets.is_empty());
            Test::Cidr(NetSet::new(&nets)).signature()
        };
        let a = cidr(&[
            "10.0.0.0/8",
            "192.168.1.7",
            "2001:db8::/32",
            "172.16.0.0/12",
        ]);
        // The same networks in another order (prefix tables made in another order too).
        assert_eq!(
            a,
            cidr(&[
                "2001:db8::/32",
                "192.168.1.7",
                "172.16.0.0/12",
                "10.0.0.0/8"
            ])
        );
        for other in [
            cidr(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]),
            cidr(&[
                "10.0.0.0/9",
                "192.168.1.7",
                "2001:db8::/32",
                "172.16.0.0/12",
            ]),
            cidr(&[
                "10.0.0.0/8",
                "192.168.1.8",
                "2001:db8::/32",
                "172.16.0.0/12",
            ]),
            cidr(&[
                "10.0.0.0/8",
                "192.168.1.7",
                "2001:db9::/32",
                "172.16.0.0/12",
            ]),
        ] {
            assert_ne!(a, other);
        }
        // The IPv4 and IPv6 networks with the same prefix and bits are different networks.
        assert_ne!(cidr(&["0.0.0.0/0"]), cidr(&["::/0"]));

        let domains =
            |names: &[&str]| Test::Domain(DomainSet::new(names.iter().copied())).signature();
        assert_eq!(
            domains(&["a.example", "b.example"]),
            domains(&["b.example", "a.example"])
        );
        // Names cannot run into each other.
        assert_ne!(domains(&["ab", "c"]), domains(&["a", "bc"]));
        assert_ne!(domains(&["a :b"]), domains(&["a", "b"]));
        assert_ne!(
            domains(&["a.example"]),
            domains(&["a.example", "b.example"])
        );
    }

    #[test]
    fn nets_and_domains() {
        let s = NetSet::new(&[
            Net::parse("10.0.0.0/8").unwrap(),
            Net::parse("2001:db8::/32").unwrap(),
            Net::parse("1.2.3.4").unwrap(),
        ]);
        assert!(s.contains("10.9.8.7".parse().unwrap()));
        assert!(s.contains("2001:db8:1::1".parse().unwrap()));
        assert!(s.contains("1.2.3.4".parse().unwrap()));
        assert!(!s.contains("1.2.3.5".parse().unwrap()));
        assert!(Net::parse("10.0.0.0/33").is_none());
        let d = DomainSet::new(["Example.com.", "evil.org"]);
        assert!(d.matches("a.b.example.COM."));
        assert!(d.matches("evil.org"));
        assert!(!d.matches("notevil.org"));
        assert!(d.matches(" mail.example.com. ") && !d.matches("example.co"));
        // An empty list matches nothing, which the engine may know without reading the field.
        let none = |_: &str| Vec::new();
        for (t, empty) in [
            (Test::Cidr(NetSet::new(&[])), true),
            (Test::Domain(DomainSet::new([])), true),
            (Test::Cidr(s), false),
            (Test::Domain(d), false),
        ] {
            assert_eq!(t.never_matches(), empty);
            let v = [Val::Str("10.1.2.3".into()), Val::Str("x.evil.org".into())];
            assert_eq!(t.eval(&v, &mut { none }), !empty);
        }
        assert!(!Test::Null.never_matches() && !Test::Exists(false).never_matches());
    }

    #[test]
    fn few_networks_answer_as_the_prefix_tables_do() {
        // Networks of many prefix lengths, nested and apart; sets of every size up to past
        // `FEW`, so both the list and the tables answer, checked against `Net::contains`.
        let nets: Vec<Net> = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "127.0.0.0/8",
            "224.0.0.0/4",
            "255.255.255.255/32",
            "10.1.0.0/16",
            "8.8.8.8",
            "1.1.1.0/24",
            "203.0.113.0/25",
            "198.51.100.128/25",
            "0.0.0.0/0",
            "11.0.0.0/7",
            "192.0.2.64/26",
            "2001:db8::/32",
            "64.0.0.0/3",
            "185.220.101.7",
            "45.0.0.0/9",
        ]
        .iter()
        .map(|s| Net::parse(s).unwrap())
        .collect();
        let probes: Vec<IpAddr> = [
            "10.9.8.7",
            "11.255.0.1",
            "12.0.0.1",
            "172.31.255.255",
            "172.32.0.0",
            "192.168.1.1",
            "100.127.0.1",
            "100.128.0.1",
            "169.254.169.254",
            "127.0.0.1",
            "239.1.2.3",
            "240.0.0.1",
            "255.255.255.255",
            "8.8.8.8",
            "8.8.4.4",
            "1.1.1.1",
            "203.0.113.127",
            "203.0.113.128",
            "198.51.100.200",
            "192.0.2.70",
            "70.1.2.3",
            "185.220.101.7",
            "45.127.0.1",
            "45.128.0.1",
            "2001:db8::1",
            "::1",
            "0.0.0.0",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for start in 0..nets.len() {
            for n in 0..=nets.len() - start {
                // Rotate the list so that each network comes first once.
                let part: Vec<Net> = nets.iter().cycle().skip(start).take(n).copied().collect();
                let set = NetSet::new(&part);
                for ip in &probes {
                    let want = part.iter().any(|net| net.contains(*ip));
                    assert_eq!(set.contains(*ip), want, "{ip} in {part:?}");
                }
            }
        }
    }

    #[test]
    fn many_networks_answer_as_each_network_does() {
        // Thousands of networks of every prefix length, as threat lists hold, so the /16 block
        // filter answers; probes at random, inside networks, and on their edges.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let nets: Vec<Net> = (0..3000)
            .map(|i| {
                let r = next();
                // Mostly long prefixes, now and then a short one (/4 to /15; /0 first).
                let prefix = match i {
                    0 => 0,
                    _ if r % 50 == 0 => 4 + (r >> 8) % 12,
                    _ => 16 + (r >> 8) % 17,
                } as u8;
                let addr = std::net::Ipv4Addr::from((r >> 32) as u32);
                Net::parse(&format!("{addr}/{prefix}")).unwrap()
            })
            .collect();
        for part in [&nets[1..40], &nets[1..], &nets[..]] {
            let set = NetSet::new(part);
            let mut probes: Vec<u32> = (0..5000).map(|_| next() as u32).collect();
            for net in part.iter().step_by(7) {
                if let IpAddr::V4(a) = net.addr {
                    let a = u32::from(a);
                    let last = a | (u32::MAX.checked_shr(u32::from(net.prefix)).unwrap_or(0));
                    probes.extend([a, last, a.wrapping_sub(1), last.wrapping_add(1)]);
                }
            }
            let (n, mut held) = (probes.len(), 0);
            for p in probes {
                let ip = IpAddr::V4(p.into());
                let want = part.iter().any(|net| net.contains(ip));
                assert_eq!(set.contains(ip), want, "{ip}");
                held += usize::from(want);
            }
            assert!(held > 100, "probes land inside networks ({held})");
            // The whole list starts with a /0, which holds every address.
            assert!(part.len() < nets.len() || held == n, "{held} of {n}");
        }
    }

    #[test]
    fn substrings_agree_with_a_search_for_each_pattern() {
        // The pack's user-agent patterns (a packed searcher), and sets it cannot take: an empty
        // pattern, and more patterns than it packs.
        let many: Vec<String> = (0..200).map(|i| format!("p{i}q")).collect();
        let sets: Vec<Vec<String>> = vec![
            vec!["exec-env/aws_lambda".into(), "exec-env/aws_ecs".into()],
            vec![
                "kali".into(),
                "parrot".into(),
                "pentoo".into(),
                "trufflehog".into(),
            ],
            vec!["ab".into(), "".into()],
            many,
        ];
        // Texts shorter and longer than the packed searcher's minimum, matching at either end,
        // overlapping, and not at all.
        let mut texts: Vec<String> = vec![
            String::new(),
            "k".into(),
            "kali".into(),
            "xkalix".into(),
            "exec-env/aws_ecs".into(),
            "boto3/1.34 exec-env/aws_lambda_python3.12".into(),
            "exec-env/aws_ec".into(),
            "aws-cli/2.15.30 python/3.11.8 linux/6.1.79 exe/x86_64.amzn.2023 prompt/off".into(),
            "truffleho parrotkalipentoo".into(),
            "p199q and p7q".into(),
        ];
        let mut x: u64 = 7;
        for _ in 0..300 {
            let n = (x % 90) as usize;
            let t: String = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"kalipetrofhgxw_/-enc"[(x >> 59) as usize % 20] as char
                })
                .collect();
            texts.push(t);
        }
        for pats in &sets {
            let s = Substrings::new(pats).unwrap();
            assert_eq!(s.len(), pats.len());
            for t in &texts {
                let want: Vec<usize> = (0..pats.len())
                    .filter(|&i| t.contains(pats[i].as_str()))
                    .collect();
                assert_eq!(s.is_match(t), !want.is_empty(), "{pats:?} in {t:?}");
                let mut got: Vec<usize> = s.matching(t).collect();
                got.sort_unstable();
                got.dedup();
                assert_eq!(got, want, "{pats:?} in {t:?}");
            }
        }
        // The packed searcher needs SIMD (SSSE3 on x86-64); without it every set takes the
        // automaton, which the agreement above covers.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("ssse3") {
            assert!(Substrings::new(&sets[0]).unwrap().is_packed());
        }
        assert!(!Substrings::new(&sets[2]).unwrap().is_packed());
    }

    #[test]
    fn str_set_folds_and_matches() {
        let s = StrSet::build(
            vec![
                StrPat::Eq("stoplogging".into()),
                StrPat::Contains("kali".into()),
                StrPat::Contains("parrot".into()),
                StrPat::Prefix("aws-cli/1".into()),
            ],
            false,
            false,
            false,
        )
        .unwrap();
        assert!(s.matches_one("StopLogging"));
        assert!(s.matches_one("Linux/5.16-KALI7"));
        assert!(s.matches_one("aws-CLI/1.22"));
        assert!(!s.matches_one("DeleteTrail"));
        assert_eq!(s.len(), 4);
    }
}
