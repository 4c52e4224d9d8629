//! Reading a rule's field from a record, by the log's own field names.
//!
//! CloudTrail and resolver fields are dotted JSON paths (`requestParameters.bucketName`); a path
//! step that meets an array fans out over its elements, so `answers.Rdata` yields every answer
//! and `resources.ARN` every resource ARN. The core fields the model already parsed are served
//! from their typed values without touching the JSON. Flow fields are header names (`dstport`).

use std::borrow::Cow;

use smallvec::SmallVec;
use trailhound_model::json::{leaf_text, step};
use trailhound_model::{CloudTrailRecord, DnsRecord, FlowField, FlowRecord};
use trailhound_rules::matcher::Val;

/// Values found at a field (usually zero or one).
pub type Vals<'a> = SmallVec<[Val<'a>; 2]>;

/// A field name resolved once, when the plan is built, for the log kind of its rule: the hot path
/// then dispatches on an enum instead of comparing field names per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// A keyword search (no field).
    Keywords,
    /// A core field the model has already parsed.
    Typed(Typed),
    /// Any other JSON field: its path, split.
    Path(Vec<String>),
    /// A flow field this build knows (and whether it is numeric).
    Flow(FlowField, bool),
    /// A flow field by header name (newer formats).
    FlowName(String),
    /// A value computed from the record (see [`crate::names`]).
    Computed(Computed),
}

/// Fields trailhound computes for rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Computed {
    /// Resolver: the query name's registrable domain (`registered_domain`).
    RegisteredDomain,
    /// Resolver: the DGA model's log-odds for the query name (`dga_score`).
    DgaScore,
    /// Resolver: tunnelling evidence points for the query name (`tunnel_score`).
    TunnelScore,
    /// CloudTrail: who an S3 bucket policy/ACL change opens the bucket to (`bucket_exposure`,
    /// see [`crate::policy`]).
    BucketExposure,
    /// CloudTrail: `anonymous` when a request installs a resource policy (ECR, KMS, SQS, SNS,
    /// Secrets Manager, OpenSearch, …) that lets anyone call (`resource_exposure`).
    ResourceExposure,
    /// CloudTrail: the principal behind a call: the role for an assumed-role session, else the
    /// identity's ARN (`principal_arn`).
    PrincipalArn,
    /// CloudTrail: the caller's network, `a.b.c.0/24` or an IPv6 /48 (`source_ip_prefix`);
    /// service names as they are.
    SourceIpPrefix,
    /// CloudTrail: the user agent's first product token, lower-cased (`user_agent_family`).
    UserAgentFamily,
    /// CloudTrail: the caller's own name: an IAM user's name, an assumed-role session's name,
    /// `root` (`caller_name`).
    CallerName,
}

/// The markers looked for in principal ARNs.
#[derive(Debug, Clone, Copy)]
enum Marker {
    AssumedRole,
    User,
}

/// `arn` split around the first `:assumed-role/` or `:user/`, found with a searcher built once:
/// these are looked for in the principal ARN of most CloudTrail records (every `first_seen` rule
/// groups by the principal), and `str::split_once` built its searcher per call.
fn split_at_marker(arn: &str, marker: Marker) -> Option<(&str, &str)> {
    const ASSUMED_ROLE: &[u8] = b":assumed-role/";
    const USER: &[u8] = b":user/";
    static FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> =
        std::sync::LazyLock::new(|| {
            [
                memchr::memmem::Finder::new(ASSUMED_ROLE),
                memchr::memmem::Finder::new(USER),
            ]
        });
    let (finder, len) = match marker {
        Marker::AssumedRole => (&FINDERS[0], ASSUMED_ROLE.len()),
        Marker::User => (&FINDERS[1], USER.len()),
    };
    let at = finder.find(arn.as_bytes())?;
    Some((arn.get(..at)?, arn.get(at + len..)?))
}

/// The last path segment of a user or session ARN, `root` for the root user.
fn caller_name(arn: &str) -> Option<&str> {
    if arn.ends_with(":root") {
        return Some("root");
    }
    let (_, rest) =
        split_at_marker(arn, Marker::AssumedRole).or_else(|| split_at_marker(arn, Marker::User))?;
    rest.rsplit('/').next().filter(|s| !s.is_empty())
}

/// Writes the role ARN of an assumed-role session ARN (the role's path is not in the session
/// ARN) to `out`; `None` when `arn` is not a session ARN (nothing is written then) or `out`
/// refused a write.
fn role_of_session<W: std::fmt::Write>(arn: &str, out: &mut W) -> Option<()> {
    let (head, rest) = split_at_marker(arn, Marker::AssumedRole)?;
    let (partition_sts, account) = head.rsplit_once(':')?;
    let partition = partition_sts.strip_suffix(":sts:")?;
    let role = rest.split('/').next()?;
    // Piece by piece, not with `write!`: this runs for most CloudTrail records (the principal of
    // every first-seen rule), and the formatting machinery was most of its cost.
    for part in [partition, ":iam::", account, ":role/", role] {
        out.write_str(part).ok()?;
    }
    Some(())
}

/// Writes the /24 (IPv4) or /48 (IPv6) network of `ip` to `out` (`ip` itself when it is not an
/// address).
fn ip_prefix<W: std::fmt::Write>(ip: &str, out: &mut W) -> std::fmt::Result {
    match trailhound_model::flow::parse_ip(ip) {
        Some(std::net::IpAddr::V4(a)) => {
            // By hand for the same reason as `role_of_session`.
            for o in &a.octets()[..3] {
                push_decimal(out, *o)?;
                out.write_char('.')?;
            }
            out.write_str("0/24")
        }
        Some(std::net::IpAddr::V6(a)) => {
            let s = a.segments();
            write!(out, "{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        None => out.write_str(ip),
    }
}

/// Writes a byte in decimal.
fn push_decimal<W: std::fmt::Write>(out: &mut W, v: u8) -> std::fmt::Result {
    if v >= 100 {
        out.write_char(char::from(b'0' + v / 100))?;
    }
    if v >= 10 {
        out.write_char(char::from(b'0' + v / 10 % 10))?;
    }
    out.write_char(char::from(b'0' + v % 10))
}

/// Writes the user agent's product name (before the first `/`, space, `(`, `,` or `]`) in lower
/// case.
///
/// By bytes: the ends are ASCII, so the first such byte is the first such character, and lower
/// case here is ASCII's. A character search for five patterns and a write per character cost
/// ~900 instructions a call, on every CloudTrail record a `first_seen` rule sees.
fn ua_family<W: std::fmt::Write>(ua: &str, out: &mut W) -> std::fmt::Result {
    let ua = ua.trim().trim_start_matches('[');
    let end = ua
        .bytes()
        .position(|b| matches!(b, b'/' | b' ' | b'(' | b',' | b']'))
        .unwrap_or(ua.len());
    let name = ua.get(..end).unwrap_or(ua);
    // Runs between upper-case letters as they are, each letter lower-cased.
    let mut from = 0;
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_uppercase() {
            out.write_str(name.get(from..i).unwrap_or_default())?;
            out.write_char(char::from(b.to_ascii_lowercase()))?;
            from = i + 1;
        }
    }
    out.write_str(name.get(from..).unwrap_or_default())
}

/// Text built on the stack: the computed fields that correlations hash for each record, which
/// allocated a string each (perf on a CloudTrail scan with the pack: 30 % of the time spent in
/// the allocator was under `ip_prefix` and `ua_family` alone). A write that does not fit fails,
/// and the caller builds the text on the heap instead. (An `ArrayString`: the hand-written buffer
/// before it zeroed its 256 bytes and checked its text as UTF-8 on every use.)
type StackText = arrayvec::ArrayString<256>;

/// Core fields served from typed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Typed {
    EventName,
    EventSource,
    AwsRegion,
    SourceIp,
    UserAgent,
    ErrorCode,
    EventId,
    EventType,
    IdentityType,
    IdentityArn,
    AccessKey,
    QueryName,
    QueryType,
    Rcode,
    Instance,
}

/// The computed fields' names (docs/rules.md lists what each holds).
const COMPUTED: &[(trailhound_model::LogKind, &str, Computed)] = {
    use trailhound_model::LogKind::{CloudTrail, Dns};
    &[
        (CloudTrail, "bucket_exposure", Computed::BucketExposure),
        (CloudTrail, "resource_exposure", Computed::ResourceExposure),
        (CloudTrail, "principal_arn", Computed::PrincipalArn),
        (CloudTrail, "source_ip_prefix", Computed::SourceIpPrefix),
        (CloudTrail, "caller_name", Computed::CallerName),
        (CloudTrail, "user_agent_family", Computed::UserAgentFamily),
        (Dns, "registered_domain", Computed::RegisteredDomain),
        (Dns, "dga_score", Computed::DgaScore),
        (Dns, "tunnel_score", Computed::TunnelScore),
    ]
};

impl FieldRef {
    /// Resolves a rule's field name for a log kind.
    pub fn resolve(kind: trailhound_model::LogKind, field: Option<&str>) -> FieldRef {
        use trailhound_model::LogKind;
        let Some(field) = field else {
            return FieldRef::Keywords;
        };
        if let Some((_, _, c)) = COMPUTED.iter().find(|(k, n, _)| *k == kind && *n == field) {
            return FieldRef::Computed(*c);
        }
        let typed = match (kind, field) {
            (LogKind::CloudTrail, "eventName") => Some(Typed::EventName),
            (LogKind::CloudTrail, "eventSource") => Some(Typed::EventSource),
            (LogKind::CloudTrail, "awsRegion") => Some(Typed::AwsRegion),
            (LogKind::CloudTrail, "sourceIPAddress") => Some(Typed::SourceIp),
            (LogKind::CloudTrail, "userAgent") => Some(Typed::UserAgent),
            (LogKind::CloudTrail, "errorCode") => Some(Typed::ErrorCode),
            (LogKind::CloudTrail, "eventID") => Some(Typed::EventId),
            (LogKind::CloudTrail, "eventType") => Some(Typed::EventType),
            (LogKind::CloudTrail, "userIdentity.type") => Some(Typed::IdentityType),
            (LogKind::CloudTrail, "userIdentity.arn") => Some(Typed::IdentityArn),
            (LogKind::CloudTrail, "userIdentity.accessKeyId") => Some(Typed::AccessKey),
            (LogKind::Dns, "query_name") => Some(Typed::QueryName),
            (LogKind::Dns, "query_type") => Some(Typed::QueryType),
            (LogKind::Dns, "rcode") => Some(Typed::Rcode),
            (LogKind::Dns, "srcids.instance") => Some(Typed::Instance),
            _ => None,
        };
        if let Some(t) = typed {
            return FieldRef::Typed(t);
        }
        if kind == LogKind::VpcFlow {
            return match FlowField::from_name(field) {
                Some(f) => FieldRef::Flow(
                    f,
                    crate::flowtest::is_typed(f)
                        || matches!(
                            f,
                            FlowField::Start
                                | FlowField::End
                                | FlowField::Version
                                | FlowField::TrafficPath
                        ),
                ),
                None => FieldRef::FlowName(field.to_owned()),
            };
        }
        FieldRef::Path(field.split('.').map(str::to_owned).collect())
    }
}

/// A record of any kind, as rules see it.
pub enum Event<'r, 'a> {
    /// CloudTrail.
    CloudTrail(&'r CloudTrailRecord<'a>),
    /// VPC flow.
    Flow(&'r FlowRecord<'a>),
    /// Route 53 Resolver, with the values computed from its query name (each at most once,
    /// however many rules and correlations read them; see [`DnsDerived`]) and what is read from
    /// the record's own text at most once ([`DnsLazy`]).
    Dns(&'r DnsRecord<'a>, &'r DnsDerived, &'r DnsLazy<'a>),
}

/// Values of one resolver record found in its text on first use and kept for the record's other
/// readers: `answers.Rdata`, which three rules of the pack read with different values (the memo
/// of shared items does not join them), walked the answers array three times a record.
#[derive(Debug, Default)]
pub struct DnsLazy<'a> {
    rdata: std::cell::OnceCell<Vals<'a>>,
}

/// The computed fields of one query name (`registered_domain`, `dga_score`, `tunnel_score`),
/// filled on first use: the pack reads them from several rules and correlation keys, and
/// splitting a name at its public suffix and scoring it cost more than parsing the line. They
/// depend on the name only, so the engine keeps them per name across records (resolver logs
/// repeat a few thousand names).
#[derive(Debug, Default)]
pub struct DnsDerived {
    parts: std::sync::OnceLock<crate::names::NameParts>,
    dga: std::sync::OnceLock<String>,
    tunnel: std::sync::OnceLock<String>,
}

impl DnsDerived {
    fn parts(&self, name: &str) -> &crate::names::NameParts {
        self.parts.get_or_init(|| crate::names::split_name(name))
    }

    fn value(&self, c: Computed, name: &str) -> Option<&str> {
        Some(match c {
            Computed::RegisteredDomain => &self.parts(name).registered,
            Computed::DgaScore => self.dga.get_or_init(|| {
                let s = crate::names::dga::Model::bundled().score_parts(name, self.parts(name));
                format!("{s:.4}")
            }),
            Computed::TunnelScore => self.tunnel.get_or_init(|| {
                format!(
                    "{:.2}",
                    crate::names::tunnel::score_parts(name, self.parts(name))
                )
            }),
            Computed::BucketExposure
            | Computed::ResourceExposure
            | Computed::PrincipalArn
            | Computed::SourceIpPrefix
            | Computed::UserAgentFamily
            | Computed::CallerName => return None,
        })
    }
}

fn json_val(raw: &str) -> Val<'_> {
    match raw.as_bytes().first() {
        Some(b'"') => Val::Str(leaf_text(raw).unwrap_or(Cow::Borrowed(""))),
        Some(b't') if raw == "true" => Val::Bool(true),
        Some(b'f') if raw == "false" => Val::Bool(false),
        Some(b'n') if raw == "null" => Val::Null,
        Some(b'{' | b'[') => Val::Complex(raw),
        _ => Val::Num(Cow::Borrowed(raw)),
    }
}

/// Collects the values at `segs` under the JSON text `raw`, fanning out over arrays.
pub fn json_values<'a>(raw: &'a str, segs: &[&str], out: &mut Vals<'a>) {
    let raw = raw.trim();
    if raw.starts_with('[') && segs.first().is_none_or(|s| s.parse::<usize>().is_err()) {
        for el in sonic_iter(raw) {
            json_values(el, segs, out);
        }
        return;
    }
    match segs.split_first() {
        None => out.push(json_val(raw)),
        Some((head, rest)) => {
            if let Some(inner) = step(raw, head) {
                json_values(inner, rest, out);
            }
        }
    }
}

/// `answers.Rdata` of a resolver record's answers text: what `json_values(answers, ["Rdata"])`
/// gives, read in one typed pass over the array when every answer is an object with a string
/// `Rdata` (as Route 53 writes them), instead of one lookup per element. Anything else (a null or
/// non-string `Rdata`, a missing one, nested arrays) takes the general walk.
fn answers_rdata(answers: &str) -> Vals<'_> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(
            rename = "Rdata",
            borrow,
            default,
            deserialize_with = "trailhound_model::json::opt_cow"
        )]
        rdata: Option<Cow<'a, str>>,
    }
    /// The `Rdata` of every answer, or an error when one has none.
    struct Rdatas<'a>(Vals<'a>);
    impl<'de> serde::Deserialize<'de> for Rdatas<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Rdatas<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an array of answers")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut v = Vals::new();
                    while let Some(a) = seq.next_element::<Answer<'de>>()? {
                        let r = a
                            .rdata
                            .ok_or_else(|| serde::de::Error::custom("no Rdata"))?;
                        v.push(Val::Str(r));
                    }
                    Ok(Rdatas(v))
                }
            }
            d.deserialize_seq(V)
        }
    }
    if let Ok(Rdatas(v)) = sonic_rs::from_str::<Rdatas<'_>>(answers) {
        return v;
    }
    let mut v = Vals::new();
    json_values(answers, &["Rdata"], &mut v);
    v
}

fn sonic_iter(raw: &str) -> Vec<&str> {
    // Elements of a JSON array as slices of `raw` (escaped strings, which sonic-rs copies, are
    // found again in `raw` by position).
    sonic_rs::to_array_iter(raw)
        .filter_map(Result::ok)
        .filter_map(|v| match v.as_raw_cow() {
            Cow::Borrowed(b) => Some(b),
            Cow::Owned(o) => trailhound_model::json::reborrow(raw, &o)
                .or_else(|| raw.find(o.as_str()).map(|i| &raw[i..i + o.len()])),
        })
        .collect()
}

fn s<'a>(v: &Option<Cow<'a, str>>) -> Option<Val<'a>> {
    v.as_ref().map(|c| Val::Str(c.clone()))
}

impl<'r, 'a: 'r> Event<'r, 'a> {
    /// Every value at `field`.
    pub fn values(&self, field: &str, out: &mut Vals<'r>) {
        let kind = match self {
            Event::CloudTrail(_) => trailhound_model::LogKind::CloudTrail,
            Event::Flow(_) => trailhound_model::LogKind::VpcFlow,
            Event::Dns(..) => trailhound_model::LogKind::Dns,
        };
        self.values_ref(&FieldRef::resolve(kind, Some(field)), out);
    }

    /// Calls `g` with the first text of a resolved field, as [`Event::values_ref`] gives it, but
    /// with the computed CloudTrail fields built on the stack, not the heap: correlations hash
    /// such a text for every record they see (group keys, `first_seen` signals), and each was
    /// an allocation and a free.
    pub fn with_first_text<R>(&self, f: &FieldRef, g: impl FnOnce(Option<&str>) -> R) -> R {
        if let (Event::CloudTrail(r), FieldRef::Computed(c)) = (self, f) {
            let mut buf = StackText::new();
            let built = match c {
                Computed::PrincipalArn => match r.identity.arn.as_deref() {
                    None => return g(None),
                    // A session's role ARN is shorter than the session ARN, so it fits when the
                    // session ARN does: nothing written means not a session.
                    Some(arn) if arn.len() <= buf.capacity() => {
                        if role_of_session(arn, &mut buf).is_none() {
                            return g(Some(arn));
                        }
                        true
                    }
                    Some(_) => false,
                },
                Computed::SourceIpPrefix => match &r.source_ip {
                    None => return g(None),
                    Some(ip) => ip_prefix(ip, &mut buf).is_ok(),
                },
                Computed::UserAgentFamily => match &r.user_agent {
                    None => return g(None),
                    Some(ua) => ua_family(ua, &mut buf).is_ok(),
                },
                _ => false,
            };
            if built {
                return g(Some(buf.as_str()));
            }
        }
        if let Some(text) = self.flow_column(f) {
            return g(text);
        }
        let mut vals = Vals::new();
        self.values_ref(f, &mut vals);
        g(vals.iter().find_map(|v| v.text()))
    }

    /// A flow column's text straight from the record (`Some(None)` when the record has none),
    /// as `values_ref` would give it in a value list; `None` for any other event or field.
    /// Correlations ask for one per record and per bucket head.
    pub fn flow_column(&self, f: &FieldRef) -> Option<Option<&'a str>> {
        match (self, f) {
            (Event::Flow(r), FieldRef::Flow(field, _)) => Some(r.raw(*field)),
            _ => None,
        }
    }

    /// Every value at a resolved field.
    pub fn values_ref(&self, f: &FieldRef, out: &mut Vals<'r>) {
        match (self, f) {
            (_, FieldRef::Keywords) => self.keyword_texts(out),
            (Event::CloudTrail(r), FieldRef::Typed(t)) => {
                let v = match t {
                    Typed::EventName => Some(Val::Str(r.event_name.clone())),
                    Typed::EventSource => s(&r.event_source),
                    Typed::AwsRegion => s(&r.aws_region),
                    Typed::SourceIp => s(&r.source_ip),
                    Typed::UserAgent => s(&r.user_agent),
                    Typed::ErrorCode => s(&r.error_code),
                    Typed::EventId => s(&r.event_id),
                    Typed::EventType => s(&r.event_type),
                    Typed::IdentityType => s(&r.identity.kind),
                    Typed::IdentityArn => s(&r.identity.arn),
                    Typed::AccessKey => s(&r.identity.access_key_id),
                    _ => None,
                };
                out.extend(v);
            }
            (Event::CloudTrail(r), FieldRef::Path(segs)) => {
                if let Some((head, rest)) = segs.split_first()
                    && let Some(v) = r.members.get(head)
                {
                    let rest: SmallVec<[&str; 6]> = rest.iter().map(String::as_str).collect();
                    json_values(v, &rest, out);
                }
            }
            (Event::Flow(r), FieldRef::Flow(field, numeric)) => {
                if let Some(t) = r.raw(*field) {
                    out.push(if *numeric {
                        Val::Num(Cow::Borrowed(t))
                    } else {
                        Val::Str(Cow::Borrowed(t))
                    });
                }
            }
            (Event::Flow(r), FieldRef::FlowName(name)) => {
                if let Some(t) = r.get(name) {
                    out.push(Val::Str(Cow::Borrowed(t)));
                }
            }
            (Event::Dns(r, ..), FieldRef::Typed(t)) => match t {
                Typed::QueryName => {
                    out.push(Val::Str(match &r.query_name {
                        Cow::Borrowed(b) => Cow::Borrowed(b.strip_suffix('.').unwrap_or(b)),
                        Cow::Owned(o) => Cow::Owned(o.strip_suffix('.').unwrap_or(o).to_owned()),
                    }));
                }
                Typed::QueryType => out.extend(s(&r.query_type)),
                Typed::Rcode => out.extend(s(&r.rcode)),
                Typed::Instance => out.extend(s(&r.instance)),
                _ => {}
            },
            (Event::CloudTrail(r), FieldRef::Computed(Computed::BucketExposure)) => {
                if let Some(rp) = r.members.get("requestParameters")
                    && let Some(e) = crate::policy::request_exposure(&r.event_name, rp)
                {
                    out.push(Val::Str(Cow::Borrowed(e.as_str())));
                }
            }
            (Event::CloudTrail(r), FieldRef::Computed(Computed::ResourceExposure)) => {
                if let Some(rp) = r.members.get("requestParameters")
                    && let Some(e) = crate::policy::resource_request_exposure(&r.event_name, rp)
                {
                    out.push(Val::Str(Cow::Borrowed(e.as_str())));
                }
            }
            (Event::CloudTrail(r), FieldRef::Computed(Computed::PrincipalArn)) => {
                // The role behind an assumed-role session, from the session ARN itself
                // (`arn:aws:sts::A:assumed-role/R/S` → `arn:aws:iam::A:role/R`): no JSON walk.
                let mut role = String::new();
                match r
                    .identity
                    .arn
                    .as_deref()
                    .map(|a| role_of_session(a, &mut role))
                {
                    Some(Some(())) => out.push(Val::Str(Cow::Owned(role))),
                    _ => out.extend(s(&r.identity.arn)),
                }
            }
            (Event::CloudTrail(r), FieldRef::Computed(Computed::SourceIpPrefix)) => {
                if let Some(ip) = &r.source_ip {
                    let mut text = String::with_capacity(18);
                    // Writing to a `String` cannot fail.
                    let _ = ip_prefix(ip, &mut text);
                    out.push(Val::Str(Cow::Owned(text)));
                }
            }
            (Event::CloudTrail(r), FieldRef::Computed(Computed::CallerName)) => {
                if let Some(name) = r.identity.arn.as_deref().and_then(caller_name) {
                    out.push(Val::Str(Cow::Borrowed(name)));
                }
            }
            (Event::CloudTrail(r), FieldRef::Computed(Computed::UserAgentFamily)) => {
                if let Some(ua) = &r.user_agent {
                    let mut text = String::new();
                    let _ = ua_family(ua, &mut text);
                    out.push(Val::Str(Cow::Owned(text)));
                }
            }
            (Event::Dns(r, d, _), FieldRef::Computed(c)) => {
                if let Some(v) = d.value(*c, r.query_name.as_ref()) {
                    // Borrowed from the name's cached values, which outlive the record's reading.
                    let v = Cow::Borrowed(v);
                    out.push(match c {
                        Computed::RegisteredDomain => Val::Str(v),
                        _ => Val::Num(v),
                    });
                }
            }
            (Event::Dns(r, _, lazy), FieldRef::Path(segs)) => {
                let segs: SmallVec<[&str; 6]> = segs.iter().map(String::as_str).collect();
                if let Some((&"answers", rest)) = segs.split_first() {
                    // Captured by the parse: walk the array, not the line.
                    if let Some(a) = r.answers {
                        if rest == ["Rdata"] {
                            let rdata = lazy.rdata.get_or_init(|| answers_rdata(a));
                            out.extend(rdata.iter().cloned());
                        } else {
                            json_values(a, rest, out);
                        }
                    }
                    return;
                }
                match &r.fields {
                    trailhound_model::Fields::Text(t) => json_values(t, &segs, out),
                    trailhound_model::Fields::Members(m) => {
                        if let Some((head, rest)) = segs.split_first()
                            && let Some(v) = m.get(head)
                        {
                            json_values(v, rest, out);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The first value at `field` as text.
    pub fn text(&self, field: &str) -> Option<String> {
        let mut v = Vals::new();
        self.values(field, &mut v);
        v.iter().find_map(|x| x.text().map(str::to_owned))
    }

    /// Texts for keyword searches: every top-level value (CloudTrail, DNS) or the whole line.
    pub fn keyword_texts(&self, out: &mut Vals<'r>) {
        match self {
            Event::CloudTrail(r) => out.extend(r.members.iter().map(|(_, v)| json_val(v))),
            Event::Flow(r) => out.push(Val::Str(Cow::Borrowed(r.line))),
            Event::Dns(r, ..) => match &r.fields {
                trailhound_model::Fields::Text(t) => out.push(Val::Complex(t)),
                trailhound_model::Fields::Members(m) => {
                    out.extend(m.iter().map(|(_, v)| json_val(v)))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(arn: &str) -> Option<String> {
        let mut s = String::new();
        role_of_session(arn, &mut s).map(|()| s)
    }

    fn ip_prefix(ip: &str) -> String {
        let mut s = String::new();
        super::ip_prefix(ip, &mut s).map_or(String::new(), |()| s)
    }

    fn ua_family(ua: &str) -> String {
        let mut s = String::new();
        super::ua_family(ua, &mut s).map_or(String::new(), |()| s)
    }

    #[test]
    fn computed_cloudtrail_signals() {
        assert_eq!(
            role("arn:aws:sts::111122223333:assumed-role/web/i-0abc").as_deref(),
            Some("arn:aws:iam::111122223333:role/web")
        );
        assert_eq!(role("arn:aws:iam::111122223333:user/alice"), None);
        assert_eq!(
            caller_name("arn:aws:iam::111122223333:user/ops/alice"),
            Some("alice")
        );
        assert_eq!(
            caller_name("arn:aws:sts::111122223333:assumed-role/web/i-0abc"),
            Some("i-0abc")
        );
        assert_eq!(caller_name("arn:aws:iam::111122223333:root"), Some("root"));
        assert_eq!(caller_name("arn:aws:iam::111122223333:role/web"), None);
        assert_eq!(ip_prefix("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(ip_prefix("0.9.10.255"), "0.9.10.0/24");
        assert_eq!(ip_prefix("100.199.250.1"), "100.199.250.0/24");
        assert_eq!(ip_prefix("2001:db8:1:2::1"), "2001:db8:1::/48");
        assert_eq!(ip_prefix("ec2.amazonaws.com"), "ec2.amazonaws.com");
        assert_eq!(ua_family("aws-cli/2.15.0 Python/3.11"), "aws-cli");
        assert_eq!(ua_family("[Boto3/1.34.0 md/Botocore#1.34]"), "boto3");
        assert_eq!(ua_family("console.amazonaws.com"), "console.amazonaws.com");
    }

    /// `f`'s first text in `ev` as `with_first_text` gives it, checked against the first value
    /// `values_ref` gives (`what` names the case when they differ).
    fn first_text_checked(ev: &Event<'_, '_>, f: &FieldRef, what: &str) -> Option<String> {
        let mut vals = Vals::new();
        ev.values_ref(f, &mut vals);
        let want = vals.iter().find_map(|v| v.text()).map(str::to_owned);
        let got = ev.with_first_text(f, |t| t.map(str::to_owned));
        assert_eq!(got, want, "{what}");
        got
    }

    #[test]
    fn user_agent_family_is_the_lower_cased_name() {
        let agents = [
            "aws-cli/2.15.0 Python/3.11",
            "[Boto3/1.34.0 md/Botocore#1.34]",
            "[[S3Console/0.4, aws-internal/3]",
            "  \u{2003}Terraform/1.7.5 (+https://www.terraform.io) ",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
            "MiXeD.Case-Agent",
            "\u{c0}WS(x)",
            "\u{dc}nic\u{d6}de/1 \u{130}",
            "a]b",
            "AWS Internal",
            "",
            " ",
        ];
        for ua in agents {
            // The same name, said another way: split at the first of the five, ASCII lower case.
            let want = ua
                .trim()
                .trim_start_matches('[')
                .split(['/', ' ', '(', ',', ']'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert_eq!(ua_family(ua), want, "{ua:?}");
        }
        let long = format!("Agent{}", "X".repeat(300));
        let mut stack = StackText::new();
        assert!(
            super::ua_family(&long, &mut stack).is_err(),
            "past the stack buffer"
        );
    }

    #[test]
    fn first_text_on_the_stack_is_the_first_value() {
        // Session and other ARNs, addresses of both kinds and none, agents short and long,
        // texts past the stack buffer (the heap then builds them), and absent fields.
        let long = "x".repeat(300);
        let arns = [
            "arn:aws:sts::111122223333:assumed-role/web/i-0abc".to_owned(),
            "arn:aws-us-gov:sts::111122223333:assumed-role/Admin/alice@example.com".to_owned(),
            "arn:aws:iam::111122223333:user/ops/alice".to_owned(),
            "arn:aws:iam::111122223333:root".to_owned(),
            format!("arn:aws:sts::111122223333:assumed-role/{long}/s"),
            "not an arn".to_owned(),
        ];
        let ips = ["203.0.113.77", "2001:db8:1:2::1", "ec2.amazonaws.com", ""];
        let agents = [
            "aws-cli/2.15.0 Python/3.11".to_owned(),
            "[Boto3/1.34.0 md/Botocore#1.34]".to_owned(),
            format!("Mozilla{long}"),
            String::new(),
        ];
        let fields = [
            "principal_arn",
            "source_ip_prefix",
            "user_agent_family",
            "caller_name",
            "eventName",
        ];
        let mut checked = 0;
        for (i, arn) in arns.iter().enumerate() {
            for ip in ips {
                for ua in &agents {
                    let mut ev = serde_json::json!({
                        "eventTime": "2024-01-01T00:00:00Z",
                        "eventName": "GetObject",
                        "userIdentity": {"type": "AssumedRole", "arn": arn},
                        "sourceIPAddress": ip,
                        "userAgent": ua,
                    });
                    // Now and then without the fields.
                    if i % 2 == 1 && ip.is_empty() {
                        let o = ev.as_object_mut().expect("an object");
                        o.remove("userIdentity");
                        o.remove("sourceIPAddress");
                        o.remove("userAgent");
                    }
                    let text = ev.to_string();
                    let r = CloudTrailRecord::parse(&text).expect("a record");
                    let ev = Event::CloudTrail(&r);
                    for name in fields {
                        let f =
                            FieldRef::resolve(trailhound_model::LogKind::CloudTrail, Some(name));
                        let got = first_text_checked(&ev, &f, &format!("{name} of {text}"));
                        checked += usize::from(got.is_some());
                    }
                }
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn a_flow_columns_first_text_is_its_first_value() {
        // Every column of a v5 line, present, `-` and absent (a v2 line lacks most of them).
        use trailhound_model::{FlowField, FlowRecord, FlowSchema, LogKind};
        let v5 = FlowSchema::parse_header(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type \
             pkt-srcaddr pkt-dstaddr region az-id",
        )
        .expect("a header");
        let lines = [
            (
                &v5,
                "5 123456789012 eni-1 10.0.0.5 198.51.100.7 40000 443 6 3 180 1718000000 1718000060 ACCEPT OK vpc-1 subnet-1 i-0abc 2 IPv4 10.0.0.5 198.51.100.7 eu-west-1 euw1-az1",
            ),
            (
                &v5,
                "5 123456789012 eni-1 - - - - - - - 1718000000 1718000060 - NODATA - - - - - - - - -",
            ),
            (
                &FlowSchema::default_v2(),
                "2 123456789012 eni-1 10.0.0.5 198.51.100.7 40000 443 6 3 180 1718000000 1718000060 ACCEPT OK",
            ),
        ];
        let mut checked = 0;
        for (schema, line) in lines {
            let mut ends = Vec::new();
            let r = FlowRecord::parse(line, schema, &mut ends).expect("a valid line");
            let ev = Event::Flow(&r);
            for field in FlowField::ALL {
                let f = FieldRef::resolve(LogKind::VpcFlow, Some(field.name()));
                assert!(matches!(f, FieldRef::Flow(..)), "{field:?}");
                let got = first_text_checked(&ev, &f, &format!("{field:?} of {line}"));
                checked += usize::from(got.is_some());
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn arrays_fan_out() {
        let raw = r#"{"resources":[{"ARN":"a"},{"ARN":"b"}],"x":{"y":[1,2]},"n":null}"#;
        let mut v = Vals::new();
        json_values(raw, &["resources", "ARN"], &mut v);
        assert_eq!(
            v.iter()
                .map(|x| x.text().unwrap().to_owned())
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        v.clear();
        json_values(raw, &["x", "y"], &mut v);
        assert_eq!(v.len(), 2);
        v.clear();
        json_values(raw, &["resources", "1", "ARN"], &mut v);
        assert_eq!(v[0].text(), Some("b"));
        v.clear();
        json_values(raw, &["n"], &mut v);
        assert_eq!(v[0], Val::Null);
    }

    #[test]
    fn answers_rdata_reads_what_the_general_walk_reads() {
        for a in [
            r#"[{"Rdata":"1.1.1.1","Type":"A","Class":"IN"},{"Rdata":"2.2.2.2","Type":"A"}]"#,
            r#"[{"Rdata":"a\"b\u0041"}]"#,
            r#"[]"#,
            r#"[{"Rdata":null}]"#,
            r#"[{"Type":"A"},{"Rdata":"x"}]"#,
            r#"[{"Rdata":5}]"#,
            r#"[{"Rdata":["x","y"]}]"#,
            r#"[[{"Rdata":"nested"}]]"#,
            r#"[{"Rdata":"x","Rdata":"y"}]"#,
            r#"["text"]"#,
            r#"{"Rdata":"not an array"}"#,
            r#"[{"Rdata":""}]"#,
        ] {
            let mut want = Vals::new();
            json_values(a, &["Rdata"], &mut want);
            assert_eq!(answers_rdata(a), want, "{a}");
        }
    }

    fn dns_values(line: &str, field: &str) -> Vec<String> {
        let r = DnsRecord::parse(line).unwrap();
        let d = DnsDerived::default();
        let lazy = DnsLazy::default();
        let ev = Event::Dns(&r, &d, &lazy);
        let mut v = Vals::new();
        // Twice: the second read comes from the record's cache and must say the same.
        ev.values(field, &mut v);
        ev.values(field, &mut v);
        v.iter()
            .filter_map(|x| x.text().map(str::to_owned))
            .collect()
    }

    #[test]
    fn resolver_computed_fields_match_the_scorers() {
        for name in [
            "xgvtmdqswnvhqjrlmjad.com.",
            "q+Z8AnwaBA.hidemyself.org.",
            "www.amazon.com.",
        ] {
            let line = format!(
                r#"{{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"{name}","query_type":"A","answers":[{{"Rdata":"169.254.169.254","Type":"A"}},{{"Rdata":"10.0.0.1"}}]}}"#
            );
            let dga = format!("{:.4}", crate::names::dga::score(name));
            let tunnel = format!("{:.2}", crate::names::tunnel::score(name));
            let reg = crate::names::split_name(name).registered;
            assert_eq!(dns_values(&line, "dga_score"), vec![dga.clone(), dga]);
            assert_eq!(
                dns_values(&line, "tunnel_score"),
                vec![tunnel.clone(), tunnel]
            );
            assert_eq!(
                dns_values(&line, "registered_domain"),
                vec![reg.clone(), reg]
            );
            // `answers` is read from the slice the parse kept.
            assert_eq!(
                dns_values(&line, "answers.Rdata"),
                vec!["169.254.169.254", "10.0.0.1", "169.254.169.254", "10.0.0.1"]
            );
        }
        let bare = r#"{"query_timestamp":"2024-01-01T00:00:00Z","query_name":"a.example.com.","answers":null}"#;
        assert!(dns_values(bare, "answers.Rdata").is_empty());
    }
}
