//! Route 53 Resolver (VPC DNS) query-log records.
//!
//! Resolver logs are JSON lines with a few traps this view absorbs: `srcport` is a string,
//! `query_name` ends with a dot, `answers` members have capitalised keys, `srcids` may be `{}`.
//! Like [`crate::CloudTrailRecord`], the core fields are typed and borrowed and the rest is read
//! from the raw line by dotted path (`answers.Rdata` walks into the array; see [`DnsRecord::values`]).

use std::borrow::Cow;

use serde::Deserialize;

use crate::RecordError;
use crate::cloudtrail::{lenient, string};
use crate::json::LenientStr;
use crate::json::leaf_text;
use crate::members::{Fields, Members};
use crate::time::{EpochMillis, parse_timestamp};

type S<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
struct RawDns<'a> {
    #[serde(borrow, default)]
    version: Option<LenientStr<'a>>,
    #[serde(borrow, default)]
    account_id: Option<LenientStr<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    region: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    vpc_id: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    query_timestamp: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    query_name: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    query_type: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    rcode: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    srcaddr: S<'a>,
    #[serde(borrow, default)]
    srcport: Option<LenientStr<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    transport: S<'a>,
    #[serde(borrow, default)]
    srcids: Option<RawSrcIds<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    firewall_rule_action: S<'a>,
    /// Kept as its text: the parse skips over it anyway, and rules that read `answers.Rdata`
    /// then walk only this slice instead of the whole line once per rule.
    #[serde(borrow, default)]
    answers: Option<sonic_rs::LazyValue<'a>>,
}

#[derive(Deserialize, Default)]
struct RawSrcIds<'a> {
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    instance: S<'a>,
    #[serde(borrow, default, deserialize_with = "crate::json::opt_cow")]
    resolver_endpoint: S<'a>,
}

struct Core<'a> {
    fields: Fields<'a>,
    query_timestamp: S<'a>,
    query_name: S<'a>,
    srcport: S<'a>,
    srcaddr: S<'a>,
    version: S<'a>,
    account_id: S<'a>,
    region: S<'a>,
    vpc_id: S<'a>,
    query_type: S<'a>,
    rcode: S<'a>,
    transport: S<'a>,
    instance: S<'a>,
    resolver_endpoint: S<'a>,
    firewall_rule_action: S<'a>,
    answers: Option<&'a str>,
}

/// One resolver query.
#[derive(Debug, Clone)]
pub struct DnsRecord<'a> {
    /// The record's fields, for reading any of them by path.
    pub fields: Fields<'a>,
    /// `query_timestamp` in epoch milliseconds.
    pub time: EpochMillis,
    /// `version` (`"1.100000"`).
    pub version: S<'a>,
    /// `account_id`.
    pub account_id: S<'a>,
    /// `region`.
    pub region: S<'a>,
    /// `vpc_id`.
    pub vpc_id: S<'a>,
    /// `query_name` as logged, trailing dot included. See [`DnsRecord::name`].
    pub query_name: Cow<'a, str>,
    /// `query_type` (`A`, `AAAA`, `TXT`, …).
    pub query_type: S<'a>,
    /// `rcode` (`NOERROR`, `NXDOMAIN`, …).
    pub rcode: S<'a>,
    /// `srcaddr`.
    pub srcaddr: Option<std::net::IpAddr>,
    /// `srcport` (written as a string in the log).
    pub srcport: Option<u16>,
    /// `transport` (`UDP`, `TCP`, …).
    pub transport: S<'a>,
    /// `srcids.instance`: the EC2 instance that asked.
    pub instance: S<'a>,
    /// `srcids.resolver_endpoint`: the inbound/outbound resolver endpoint.
    pub resolver_endpoint: S<'a>,
    /// `firewall_rule_action` (`ALERT`/`BLOCK`) when a DNS Firewall rule matched.
    pub firewall_rule_action: S<'a>,
    /// The JSON text of `answers` (an array of `{Rdata, Type, Class}`), when the record has it.
    pub answers: Option<&'a str>,
}

impl<'a> DnsRecord<'a> {
    /// Parses one resolver log line (a JSON object).
    ///
    /// ```
    /// use trailhound_model::DnsRecord;
    /// let r = DnsRecord::parse(r#"{"version":"1.100000","account_id":"111122223333","region":"us-east-1",
    ///   "vpc_id":"vpc-1","query_timestamp":"2021-02-04T17:51:55Z","query_name":"Example.COM.",
    ///   "query_type":"A","query_class":"IN","rcode":"NOERROR",
    ///   "answers":[{"Rdata":"93.184.216.34","Type":"A","Class":"IN"}],
    ///   "srcaddr":"10.0.0.5","srcport":"56067","transport":"UDP","srcids":{"instance":"i-0abc"}}"#).unwrap();
    /// assert_eq!(r.name(), "example.com");
    /// assert_eq!(r.srcport, Some(56067));
    /// assert_eq!(r.values("answers.Rdata"), vec!["93.184.216.34"]);
    /// ```
    pub fn parse(raw: &'a str) -> Result<Self, RecordError> {
        // Resolver lines are small and flat: a typed parse straight from the text is the fastest
        // way to the core fields; anything else is read from the text by path.
        let r: RawDns<'a> = match sonic_rs::from_str(raw) {
            Ok(r) => r,
            Err(_) => {
                // Not an object of the expected shape: let the member walk say exactly why.
                return Self::from_members(Members::parse(raw)?);
            }
        };
        let srcids = r.srcids.unwrap_or_default();
        let answers = match r.answers.as_ref().map(|a| a.as_raw_cow()) {
            None => None,
            Some(Cow::Borrowed(a)) => Some(a),
            // Not a slice of the line (cannot happen for text input): find it by path.
            Some(Cow::Owned(_)) => crate::json::step(raw, "answers"),
        };
        Self::build(Core {
            answers,
            fields: Fields::Text(raw),
            query_timestamp: r.query_timestamp,
            query_name: r.query_name,
            srcport: r.srcport.map(|p| p.0),
            srcaddr: r.srcaddr,
            version: r.version.map(|v| v.0),
            account_id: r.account_id.map(|v| v.0),
            region: r.region,
            vpc_id: r.vpc_id,
            query_type: r.query_type,
            rcode: r.rcode,
            transport: r.transport,
            instance: srcids.instance,
            resolver_endpoint: srcids.resolver_endpoint,
            firewall_rule_action: r.firewall_rule_action,
        })
    }

    /// Builds the record from its already-captured top-level members.
    pub fn from_members(m: Members<'a>) -> Result<Self, RecordError> {
        if m.is_not_object() {
            return Err(RecordError::Shape("record is not a JSON object"));
        }
        let ids: RawSrcIds<'a> = match m.get("srcids") {
            None | Some("null") => RawSrcIds::default(),
            Some(raw) => sonic_rs::from_str(raw).map_err(|e| {
                RecordError::Json(format!("srcids: {}", crate::json::short_error(&e)))
            })?,
        };
        Self::build(Core {
            query_timestamp: string(m.get("query_timestamp"), "query_timestamp")?,
            query_name: string(m.get("query_name"), "query_name")?,
            srcport: lenient(m.get("srcport")),
            srcaddr: string(m.get("srcaddr"), "srcaddr")?,
            version: lenient(m.get("version")),
            account_id: lenient(m.get("account_id")),
            region: string(m.get("region"), "region")?,
            vpc_id: string(m.get("vpc_id"), "vpc_id")?,
            query_type: string(m.get("query_type"), "query_type")?,
            rcode: string(m.get("rcode"), "rcode")?,
            transport: string(m.get("transport"), "transport")?,
            instance: ids.instance,
            resolver_endpoint: ids.resolver_endpoint,
            firewall_rule_action: string(m.get("firewall_rule_action"), "firewall_rule_action")?,
            answers: m.get("answers"),
            fields: Fields::Members(Box::new(m)),
        })
    }

    fn build(c: Core<'a>) -> Result<Self, RecordError> {
        let ts = c
            .query_timestamp
            .ok_or(RecordError::Missing("query_timestamp"))?;
        let time = parse_timestamp(&ts).ok_or_else(|| RecordError::BadTime(ts.to_string()))?;
        let query_name = c.query_name.ok_or(RecordError::Missing("query_name"))?;
        let srcport = match c.srcport {
            None => None,
            Some(p) if p.is_empty() || p == "-" => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| RecordError::BadValue {
                field: "srcport",
                value: p.chars().take(64).collect(),
            })?),
        };
        let srcaddr = match c.srcaddr.as_deref() {
            None | Some("" | "-") => None,
            Some(a) => Some(a.parse().map_err(|_| RecordError::BadValue {
                field: "srcaddr",
                value: a.chars().take(64).collect(),
            })?),
        };
        Ok(DnsRecord {
            time,
            version: c.version,
            account_id: c.account_id,
            region: c.region,
            vpc_id: c.vpc_id,
            query_name,
            query_type: c.query_type,
            rcode: c.rcode,
            srcaddr,
            srcport,
            transport: c.transport,
            instance: c.instance,
            resolver_endpoint: c.resolver_endpoint,
            firewall_rule_action: c.firewall_rule_action,
            answers: c.answers.filter(|a| *a != "null"),
            fields: c.fields,
        })
    }

    /// The queried name without its trailing dot, lower-cased (borrowed when already lower case).
    pub fn name(&self) -> Cow<'_, str> {
        let n = self
            .query_name
            .strip_suffix('.')
            .unwrap_or(&self.query_name);
        if n.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(n.to_ascii_lowercase())
        } else {
            Cow::Borrowed(n)
        }
    }

    /// The raw JSON text at a dotted path, `None` when absent or `null`.
    pub fn get(&self, path: &str) -> Option<&'a str> {
        self.fields.path(path)
    }

    /// Every value at a dotted path, walking into arrays on the way: `answers.Rdata` gives each
    /// answer's `Rdata`. The older flat `rdata` field is read the same way.
    pub fn values(&self, path: &str) -> Vec<Cow<'a, str>> {
        let mut out = Vec::new();
        let segs: Vec<&str> = path.split('.').collect();
        match &self.fields {
            Fields::Text(t) => collect_values(t, &segs, &mut out),
            Fields::Members(m) => {
                if let Some((head, rest)) = segs.split_first()
                    && let Some(v) = m.get(head)
                {
                    collect_values(v, rest, &mut out);
                }
            }
        }
        out
    }
}

/// Collects every value at `path` under the JSON text `raw`, descending into arrays.
pub fn collect_values<'a>(raw: &'a str, path: &[&str], out: &mut Vec<Cow<'a, str>>) {
    let raw = raw.trim_start();
    if raw.starts_with('[') {
        for v in sonic_rs::to_array_iter(raw).flatten() {
            if let Some(inner) = crate::json::reborrow(raw, v.as_raw_str()) {
                collect_values(inner, path, out);
            }
        }
        return;
    }
    let Some((head, rest)) = path.split_first() else {
        if let Some(v) = leaf_text(raw) {
            out.push(v);
        }
        return;
    };
    if !raw.starts_with('{') {
        return;
    }
    if let Some(inner) = crate::json::step(raw, head) {
        collect_values(inner, rest, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traps_are_absorbed() {
        let r = DnsRecord::parse(
            r#"{"version":"1.100000","account_id":"1","query_timestamp":"2021-02-04T17:51:55.120Z","query_name":"a.B.c.","srcport":"53","srcaddr":"10.0.0.1","srcids":{},"answers":[]}"#,
        )
        .unwrap();
        assert_eq!(r.name(), "a.b.c");
        assert_eq!(r.instance, None);
        assert!(r.values("answers.Rdata").is_empty());
        assert_eq!(r.time % 1000, 120);
    }

    #[test]
    fn values_walk_arrays() {
        let r = DnsRecord::parse(
            r#"{"query_timestamp":"2021-02-04T17:51:55Z","query_name":"x.","answers":[{"Rdata":"1.1.1.1"},{"Rdata":"a\"b"},{"Type":"A"}]}"#,
        )
        .unwrap();
        assert_eq!(r.values("answers.Rdata"), vec!["1.1.1.1", "a\"b"]);
    }

    #[test]
    fn texts_without_escapes_are_borrowed_from_the_line() {
        let r = DnsRecord::parse(
            r#"{"account_id":"1","region":"us-east-1","vpc_id":"vpc-1","query_timestamp":"2021-02-04T17:51:55Z","query_name":"x.example.","query_type":"A","rcode":"NOERROR","transport":"UDP","srcids":{"instance":"i-1","resolver_endpoint":"rslvr-1"},"firewall_rule_action":"ALERT"}"#,
        )
        .unwrap();
        let borrowed = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Borrowed(_)));
        for (name, f) in [
            ("region", &r.region),
            ("vpc_id", &r.vpc_id),
            ("query_type", &r.query_type),
            ("rcode", &r.rcode),
            ("transport", &r.transport),
            ("instance", &r.instance),
            ("resolver_endpoint", &r.resolver_endpoint),
            ("firewall_rule_action", &r.firewall_rule_action),
            ("account_id", &r.account_id),
        ] {
            assert!(borrowed(f), "{name} was copied: {f:?}");
        }
        assert!(matches!(r.query_name, Cow::Borrowed("x.example.")));
        // An escaped text cannot be borrowed.
        let r = DnsRecord::parse(
            r#"{"query_timestamp":"2021-02-04T17:51:55Z","query_name":"x.","query_type":"A\u0041"}"#,
        )
        .unwrap();
        assert_eq!(r.query_type.as_deref(), Some("AA"));
    }

    #[test]
    fn bad_port_is_rejected() {
        let e = DnsRecord::parse(
            r#"{"query_timestamp":"2021-02-04T17:51:55Z","query_name":"x.","srcport":"http"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            RecordError::BadValue {
                field: "srcport",
                ..
            }
        ));
        assert!(matches!(
            DnsRecord::parse(r#"{"query_name":"x."}"#),
            Err(RecordError::Missing("query_timestamp"))
        ));
    }
}
