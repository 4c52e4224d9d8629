//! AWS Security Finding Format, as Security Hub's `BatchImportFindings` takes it.
//!
//! Each finding becomes an `AwsSecurityFinding` of a custom product (by default
//! `arn:aws:securityhub:<region>:<account>:product/<account>/default`, the integration every
//! account has). `Types` follow GuardDuty's own Security Hub mapping (namespace and category from
//! the threat purpose, then the type with `/` made `-`); `Severity.Label` is the band of the
//! GuardDuty-scale score, which goes in `Severity.Original` (and both in `FindingProviderFields`);
//! `Resources` are typed (`AwsIamAccessKey`, `AwsEc2Instance`, `AwsS3Bucket`, …); `Action` and
//! `Network` come from the earliest sample event; `ProductFields` carry the count, the rule and
//! the sample event ids. [`write_batches`] and [`batches`] cut findings into request bodies of at
//! most 100 findings and under the 6 MB request limit.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;
use trailhound_detect::finding::{Evidence, Finding};

use crate::OutputError;
use crate::json::{Obj, json_str, json_time, json_uint};

/// Settings of the ASFF output.
#[derive(Debug, Clone)]
pub struct AsffOptions {
    /// Product ARN for every finding (default: each finding's account and region's `default`
    /// product).
    pub product_arn: Option<String>,
    /// Account for findings that have none (and for the default product ARN then).
    pub default_account: String,
    /// Region for findings that have none.
    pub default_region: String,
    /// `CreatedAt`/`UpdatedAt` (the run's time, RFC 3339 with milliseconds).
    pub now: String,
}

impl Default for AsffOptions {
    fn default() -> Self {
        AsffOptions {
            product_arn: None,
            default_account: "000000000000".into(),
            default_region: "us-east-1".into(),
            now: "1970-01-01T00:00:00.000Z".into(),
        }
    }
}

/// The Security Hub namespace/category GuardDuty's integration uses for a finding type's threat
/// purpose (the part before `:`).
pub fn type_prefix(finding_type: &str) -> &'static str {
    let purpose = finding_type.split(':').next().unwrap_or("");
    let ec2 = finding_type.contains(":EC2/");
    match purpose {
        "Backdoor" | "Trojan" => "TTPs/Command and Control",
        "Behavior" if ec2 => "Unusual Behaviors/VM",
        "Behavior" => "Unusual Behaviors/User",
        "CryptoCurrency" => "Effects/Resource Consumption",
        "CredentialAccess" => "TTPs/Credential Access",
        "DefenseEvasion" | "Stealth" => "TTPs/Defense Evasion",
        "Discovery" | "Recon" | "PenTest" => "TTPs/Discovery",
        "Execution" => "TTPs/Execution",
        "Exfiltration" => "Effects/Data Exfiltration",
        "Impact" if ec2 => "Effects/Resource Consumption",
        "Impact" => "Effects/Data Destruction",
        "InitialAccess" | "UnauthorizedAccess" => "TTPs/Initial Access",
        "Persistence" => "TTPs/Persistence",
        "Policy" => "Software and Configuration Checks/AWS Security Best Practices",
        "PrivilegeEscalation" => "TTPs/Privilege Escalation",
        "LateralMovement" => "TTPs/Lateral Movement",
        "Collection" => "TTPs/Collection",
        _ => "TTPs",
    }
}

/// The ASFF `Types` entry of a finding type.
pub fn asff_type(finding_type: &str) -> String {
    let t = format!(
        "{}/{}",
        type_prefix(finding_type),
        finding_type.replace('/', "-")
    );
    clip(&t, 256).into_owned()
}

/// Security Hub's severity label for a GuardDuty-scale score.
pub fn label(score: f64) -> &'static str {
    if score >= 9.0 {
        "CRITICAL"
    } else if score >= 7.0 {
        "HIGH"
    } else if score >= 4.0 {
        "MEDIUM"
    } else if score >= 1.0 {
        "LOW"
    } else {
        "INFORMATIONAL"
    }
}

fn clip(s: &str, max: usize) -> Cow<'_, str> {
    // Fast path: a string of at most `max` bytes has at most `max` characters.
    if s.len() <= max || s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

/// The first of `texts` that is not blank, trimmed (the last one, trimmed, when all are).
fn first_text<'t>(texts: &[&'t str]) -> &'t str {
    texts
        .iter()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .or_else(|| texts.last().map(|t| t.trim()))
        .unwrap_or_default()
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `IpAddressV4`/`IpAddressV6` detail of an address (absent when it is not an address).
#[derive(Clone, Copy)]
enum IpDetails<'a> {
    /// The address and the text it was parsed from.
    V4(std::net::Ipv4Addr, &'a str),
    V6(std::net::Ipv6Addr),
}

fn ip_details(ip: &str) -> Option<IpDetails<'_>> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(IpDetails::V4(a, ip)),
        std::net::IpAddr::V6(a) => Some(IpDetails::V6(a)),
    }
}

fn is_private(ip: Option<IpDetails<'_>>) -> bool {
    match ip {
        Some(IpDetails::V4(a, _)) => {
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (a.octets()[0] == 100 && (64..128).contains(&a.octets()[1]))
        }
        Some(IpDetails::V6(a)) => (a.segments()[0] & 0xfe00) == 0xfc00 || a.is_loopback(),
        None => false,
    }
}

fn protocol_name(p: u8) -> Cow<'static, str> {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPV6".into(),
        other => other.to_string().into(),
    }
}

// The writer. Serde escaped every one of the ~40 constant keys of each finding as if it were
// data (a quarter of the output phase in the profile); here keys are byte strings and only values
// are escaped. Keys are written in alphabetical order, the order of a JSON object tree, which the
// snapshot tests pin.

/// Appends an address as a JSON string: an IPv4 address's source text is already its canonical
/// form (the parser takes dotted decimal without leading zeros only), an IPv6 one is
/// re-rendered (compressed, lower case).
fn json_ip(out: &mut Vec<u8>, ip: IpDetails) {
    match ip {
        IpDetails::V4(_, text) => json_str(out, text),
        IpDetails::V6(a) => json_display(out, a, true),
    }
}

/// Appends `v` with `Display`, quoted (addresses and numbers written as JSON strings).
fn json_display(out: &mut Vec<u8>, v: impl std::fmt::Display, quoted: bool) {
    use std::io::Write as _;
    if quoted {
        out.push(b'"');
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{v}");
    if quoted {
        out.push(b'"');
    }
}

/// ASFF's members of an object being written (see [`Obj`]).
impl Obj<'_> {
    fn bool(&mut self, k: &str, v: bool) {
        self.raw(k, if v { "true" } else { "false" });
    }
    fn port(&mut self, k: &str, p: Option<u16>) {
        if let Some(p) = p {
            json_uint(self.key(k), u64::from(p), false);
        }
    }
    fn port_details(&mut self, k: &str, p: Option<u16>) {
        if let Some(p) = p {
            let mut o = Obj::open(self.key(k));
            o.port("Port", Some(p));
            o.close();
        }
    }
    /// An action's `RemoteIpDetails` or `LocalIpDetails`. ASFF gives those an `IpAddressV4`
    /// only (Security Hub refuses any other member), so an IPv6 address is left out here; the
    /// callers put it in `Network` (`SourceIpV6`, `DestinationIpV6`) instead.
    fn ip_details(&mut self, k: &str, ip: Option<IpDetails<'_>>) {
        let Some(ip @ IpDetails::V4(..)) = ip else {
            return;
        };
        let mut o = Obj::open(self.key(k));
        json_ip(o.key("IpAddressV4"), ip);
        o.close();
    }
    /// `Network`'s separate v4 and v6 members of one address.
    fn v4_v6(&mut self, v4: &str, v6: &str, ip: Option<IpDetails<'_>>) {
        match ip {
            Some(ip @ IpDetails::V4(..)) => json_ip(self.key(v4), ip),
            Some(ip @ IpDetails::V6(_)) => json_ip(self.key(v6), ip),
            None => {}
        }
    }
}

/// `{"Label": …, "Original": "8.0"}`: the score with one decimal, as a string.
fn severity(out: &mut Vec<u8>, score: f64) {
    let mut o = Obj::open(out);
    o.str("Label", label(score));
    let out = o.key("Original");
    // Integer tenths: `{:.1}` on an f64 takes the exact (bignum) formatting path.
    let tenths = (score * 10.0).round();
    if tenths.is_finite() && tenths.abs() < 1e15 {
        let t = tenths as i64;
        let sign = if t < 0 { "-" } else { "" };
        let t = t.unsigned_abs();
        json_display(out, format_args!("{sign}{}.{}", t / 10, t % 10), true);
    } else {
        json_display(out, format_args!("{score:.1}"), true);
    }
    o.close();
}

/// `ProductFields`: a string map, keys in sorted order; the rule's keys and values come
/// pre-written from `rule`.
fn product_fields(out: &mut Vec<u8>, f: &Finding, rule: &RuleText) {
    out.extend_from_slice(&rule.fields_head);
    json_uint(out, f.count, true);
    out.extend_from_slice(b",\"trailhound/finding_id\":");
    json_str(out, &f.id);
    out.extend_from_slice(&rule.fields_mid);
    let sample = |out: &mut Vec<u8>, i: usize| {
        let v = f
            .evidence
            .get(i)
            .and_then(|e| e.event_id.as_deref())
            .unwrap_or(&f.samples[i]);
        out.extend_from_slice(b",\"trailhound/sample/");
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        out.extend_from_slice(b"\":");
        json_str(out, &clip(v, 2048));
    };
    if f.samples.len() <= 10 {
        (0..f.samples.len()).for_each(|i| sample(out, i));
    } else {
        // Keys sort as text: sample/10 comes before sample/2.
        let mut order: Vec<usize> = (0..f.samples.len()).collect();
        order.sort_by_cached_key(|i| i.to_string());
        order.into_iter().for_each(|i| sample(out, i));
    }
    out.extend_from_slice(&rule.fields_tail);
}

/// `Resources[0]`: typed as Security Hub knows the resource, `Other` with its details else.
fn resource(out: &mut Vec<u8>, f: &Finding, account: &str, region: &str) {
    let p = partition(region);
    let id = f.resource.id.as_str();
    let (ty, rid): (&'static str, Cow<'_, str>) = match f.resource.kind.as_str() {
        "AccessKey" => ("AwsIamAccessKey", id.into()),
        "IAMUser" => ("AwsIamUser", id.into()),
        "IAMRole" | "AssumedRole" => ("AwsIamRole", id.into()),
        "IAMPrincipal" if id.contains(":user/") => ("AwsIamUser", id.into()),
        "IAMPrincipal" if id.contains(":role/") || id.contains(":assumed-role/") => {
            ("AwsIamRole", id.into())
        }
        "Root" | "Account" => ("AwsAccount", format!("AWS::::Account:{account}").into()),
        "IAMPrincipal" if id.ends_with(":root") => {
            ("AwsAccount", format!("AWS::::Account:{account}").into())
        }
        "Instance" => (
            "AwsEc2Instance",
            format!("arn:{p}:ec2:{region}:{account}:instance/{id}").into(),
        ),
        "NetworkInterface" => (
            "AwsEc2NetworkInterface",
            format!("arn:{p}:ec2:{region}:{account}:network-interface/{id}").into(),
        ),
        "S3Bucket" => ("AwsS3Bucket", format!("arn:{p}:s3:::{id}").into()),
        _ => ("Other", id.into()),
    };
    // Written as runs of bytes, like the finding around it.
    if ty == "Other" {
        out.extend_from_slice(b"[{\"Details\":{\"Other\":{\"trailhound/resource_id\":");
        json_str(out, &clip(id, 1024));
        out.extend_from_slice(b",\"trailhound/resource_type\":");
        json_str(out, &clip(&f.resource.kind, 1024));
        out.extend_from_slice(b"}},\"Id\":");
    } else {
        out.extend_from_slice(b"[{\"Id\":");
    }
    json_str(out, &clip(&rid, 512));
    out.extend_from_slice(b",\"Partition\":");
    json_str(out, p);
    out.extend_from_slice(b",\"Region\":");
    json_str(out, &clip(region, 16));
    out.extend_from_slice(b",\"Type\":");
    json_str(out, ty);
    out.extend_from_slice(b"}]");
}

/// `Action` of the earliest sample event (API call, DNS request, connection or port probe),
/// written to `o`, and its `Network` object, written to `net` (which stays empty without one).
fn action_and_network(
    o: &mut Obj<'_>,
    net: &mut Vec<u8>,
    f: &Finding,
    e: &Evidence,
    (first, last): (&[u8], &[u8]),
) {
    if let Some(api) = &e.api {
        // Nine findings in ten of a CloudTrail scan: written as runs of bytes (every member
        // after `Api` has one before it), not member by member.
        let out = o.key("Action");
        out.extend_from_slice(b"{\"ActionType\":\"AWS_API_CALL\",\"AwsApiCallAction\":{\"Api\":");
        json_str(out, &clip(api, 1024));
        let caller = e.caller.as_deref().map(|s| (s, ip_details(s)));
        match caller {
            Some((_, Some(_))) => out.extend_from_slice(b",\"CallerType\":\"remoteip\""),
            Some((s, None)) => {
                out.extend_from_slice(b",\"CallerType\":\"domain\",\"DomainDetails\":{\"Domain\":");
                json_str(out, &clip(s, 128));
                out.push(b'}');
            }
            None => {}
        }
        out.extend_from_slice(b",\"FirstSeen\":");
        out.extend_from_slice(first);
        out.extend_from_slice(b",\"LastSeen\":");
        out.extend_from_slice(last);
        let caller_ip = caller.and_then(|(_, ip)| ip);
        Obj::resume(out).ip_details("RemoteIpDetails", caller_ip);
        if let Some(s) = &e.service {
            out.extend_from_slice(b",\"ServiceName\":");
            json_str(out, &clip(s, 1024));
        }
        out.extend_from_slice(b"}}");
        // An IPv6 caller has no place in `RemoteIpDetails` (IPv4 only): it is the `Network`'s
        // source instead.
        if let Some(ip @ IpDetails::V6(_)) = caller_ip {
            let mut n = Obj::open(net);
            n.v4_v6("SourceIpV4", "SourceIpV6", Some(ip));
            n.close();
        }
        return;
    }
    if let Some(domain) = &e.domain {
        let domain = clip(domain, 128);
        let mut a = Obj::open(o.key("Action"));
        a.str("ActionType", "DNS_REQUEST");
        let mut d = Obj::open(a.key("DnsRequestAction"));
        d.bool("Blocked", false);
        d.str("Domain", &domain);
        d.str("Protocol", "DNS");
        d.close();
        a.close();
        let mut n = Obj::open(net);
        n.str("DestinationDomain", &domain);
        n.str("Direction", "OUT");
        n.v4_v6(
            "SourceIpV4",
            "SourceIpV6",
            e.src_addr.as_deref().and_then(ip_details),
        );
        n.close();
        return;
    }
    let (Some(src), Some(dst)) = (&e.src_addr, &e.dst_addr) else {
        return;
    };
    // Each address parsed once, for the direction, `Network` and the action's details.
    let (src_ip, dst_ip) = (ip_details(src), ip_details(dst));
    let outbound = is_private(src_ip) && !is_private(dst_ip);
    let direction = if outbound { "OUT" } else { "IN" };
    let (local, remote, lport, rport) = if outbound {
        (src_ip, dst_ip, e.src_port, e.dst_port)
    } else {
        (dst_ip, src_ip, e.dst_port, e.src_port)
    };
    let blocked = e.action.as_deref() == Some("REJECT");
    let proto = e.protocol.map(protocol_name);
    let mut a = Obj::open(o.key("Action"));
    if f.finding_type.contains("PortProbe") {
        a.str("ActionType", "PORT_PROBE");
        let mut p = Obj::open(a.key("PortProbeAction"));
        p.bool("Blocked", blocked);
        let out = p.key("PortProbeDetails");
        out.push(b'[');
        let mut d = Obj::open(out);
        d.ip_details("LocalIpDetails", local);
        d.port_details("LocalPortDetails", lport);
        d.ip_details("RemoteIpDetails", remote);
        d.close();
        out.push(b']');
        p.close();
    } else {
        a.str("ActionType", "NETWORK_CONNECTION");
        let mut c = Obj::open(a.key("NetworkConnectionAction"));
        c.bool("Blocked", blocked);
        c.str("ConnectionDirection", direction);
        c.port_details("LocalPortDetails", lport);
        if let Some(p) = &proto {
            c.str("Protocol", p);
        }
        c.ip_details("RemoteIpDetails", remote);
        c.port_details("RemotePortDetails", rport);
        c.close();
    }
    a.close();
    let mut n = Obj::open(net);
    n.v4_v6("DestinationIpV4", "DestinationIpV6", dst_ip);
    n.port("DestinationPort", e.dst_port);
    n.str("Direction", direction);
    if let Some(p) = &proto {
        n.str("Protocol", p);
    }
    n.v4_v6("SourceIpV4", "SourceIpV6", src_ip);
    n.port("SourcePort", e.src_port);
    n.close();
}

/// The runs of an ASFF finding's JSON that depend only on its rule and the run (description,
/// title, types, rule fields, the constant members and `CreatedAt`/`UpdatedAt`): escaped and put
/// together once per rule and chunk, then copied whole. They are about a third of every finding's
/// bytes, and writing them member by member was a fifth of the ASFF writer's time.
struct RuleText {
    /// `,"CompanyName":…,"CreatedAt":…,"Description":…,"FindingProviderFields":{"Severity":`
    head: Vec<u8>,
    /// `,"Types":[…]},"FirstObservedAt":`
    types_first: Vec<u8>,
    /// `,"GeneratorId":…,"Id":`
    generator_id: Vec<u8>,
    /// `{"trailhound/attack":…,"trailhound/count":` (no `attack` without tags)
    fields_head: Vec<u8>,
    /// `,"trailhound/rule_id":…,"trailhound/rule_path":…`
    fields_mid: Vec<u8>,
    /// `,"trailhound/type":…}`
    fields_tail: Vec<u8>,
    /// `,"Title":…,"Types":[…],"UpdatedAt":…}`
    tail: Vec<u8>,
}

impl RuleText {
    fn new(f: &Finding, o: &AsffOptions) -> Self {
        let run = |parts: &[(&[u8], Option<&str>)]| {
            let mut out = Vec::new();
            for (raw, text) in parts {
                out.extend_from_slice(raw);
                if let Some(t) = text {
                    json_str(&mut out, t);
                }
            }
            out
        };
        // Security Hub refuses a blank `Description` or `Title`; a rule may have no
        // description (Sigma's is optional), and then its title says what the finding is.
        let title = first_text(&[&f.title, &f.finding_type, &f.rule_id]);
        let description = clip(first_text(&[&f.description, title]), 1024);
        let asff_type = asff_type(&f.finding_type);
        let attack = f.attack.join(" ");
        let fields_head = match f.attack.is_empty() {
            true => b"{\"trailhound/count\":".to_vec(),
            false => run(&[
                (b"{\"trailhound/attack\":", Some(&clip(&attack, 2048))),
                (b",\"trailhound/count\":", None),
            ]),
        };
        RuleText {
            head: run(&[
                (
                    b",\"CompanyName\":\"trailhound\",\"CreatedAt\":",
                    Some(&o.now),
                ),
                (b",\"Description\":", Some(&description)),
                (b",\"FindingProviderFields\":{\"Severity\":", None),
            ]),
            types_first: run(&[
                (b",\"Types\":[", Some(&asff_type)),
                (b"]},\"FirstObservedAt\":", None),
            ]),
            generator_id: run(&[
                (b",\"GeneratorId\":", Some(&clip(&f.rule_id, 512))),
                (b",\"Id\":", None),
            ]),
            fields_head,
            fields_mid: run(&[
                (b",\"trailhound/rule_id\":", Some(&clip(&f.rule_id, 2048))),
                (
                    b",\"trailhound/rule_path\":",
                    Some(&clip(&f.rule_path, 2048)),
                ),
            ]),
            fields_tail: run(&[
                (b",\"trailhound/type\":", Some(&clip(&f.finding_type, 2048))),
                (b"}", None),
            ]),
            tail: run(&[
                (b",\"Title\":", Some(&clip(title, 256))),
                (b",\"Types\":[", Some(&asff_type)),
                (b"],\"UpdatedAt\":", Some(&o.now)),
                (b"}", None),
            ]),
        }
    }
}

/// What makes two findings' [`RuleText`] the same. The rule's texts are compared as the shared
/// `Arc`s they are (equal at once when they are the same one, by content only when not).
type RuleKey<'f> = (
    &'f Arc<str>,
    &'f Arc<str>,
    &'f str,
    &'f Arc<str>,
    &'f Arc<str>,
    &'f Arc<[String]>,
);

fn rule_key(f: &Finding) -> RuleKey<'_> {
    (
        &f.rule_id,
        &f.rule_path,
        &f.finding_type,
        &f.title,
        &f.description,
        &f.attack,
    )
}

/// Writes the findings of `part` into `out`, separated by commas, escaping each rule's texts
/// once; returns where each finding ends in `out`.
fn write_part(part: &[Finding], o: &AsffOptions, out: &mut Vec<u8>) -> Vec<usize> {
    let mut index: hashbrown::HashMap<RuleKey<'_>, usize> = Default::default();
    let mut texts = Vec::new();
    let mut last: Option<(RuleKey<'_>, usize)> = None;
    let mut ends = Vec::with_capacity(part.len());
    let mut scratch = Scratch::default();
    // One pass, behind the prefetches: the finding's own type (in the key) is read once, when
    // its strings have been asked for.
    for (j, f) in crate::prefetching(part).enumerate() {
        let key = rule_key(f);
        // Findings come sorted by type, so most share the previous one's rule: compare with it
        // (the rule's texts by pointer) before hashing the rule's texts.
        let i = match last {
            Some((k, i)) if k == key => i,
            _ => {
                let next = index.len();
                let i = *index.entry(key).or_insert(next);
                last = Some((key, i));
                if i == texts.len() {
                    texts.push(RuleText::new(f, o));
                }
                i
            }
        };
        if j > 0 {
            out.push(b',');
        }
        write_with(out, &mut scratch, f, o, &texts[i]);
        ends.push(out.len());
    }
    ends
}

/// Buffers reused from one finding to the next, and the texts that repeat between neighbours
/// (sorted findings share their account, region and severity in long runs).
#[derive(Default)]
struct Scratch {
    /// The `Network` object being written.
    net: Vec<u8>,
    /// A text being put together (the finding's `Id`).
    text: String,
    /// The account and region of the last default `ProductArn`, and its JSON text.
    arn: Option<(String, String, Vec<u8>)>,
    /// The last severity score and its `Severity` object.
    severity: Option<(u64, Vec<u8>)>,
    /// The finding's first and last times as JSON strings (kept while neighbours share them).
    first: (Option<i64>, Vec<u8>),
    last: (Option<i64>, Vec<u8>),
}

impl Scratch {
    /// Puts `f`'s first and last times in `first` and `last` (each formatted once per finding at
    /// most, where the API call action and the finding both carry them).
    fn times(&mut self, f: &Finding) {
        fn put(slot: &mut (Option<i64>, Vec<u8>), t: i64) {
            if slot.0 != Some(t) {
                slot.1.clear();
                json_time(&mut slot.1, t);
                slot.0 = Some(t);
            }
        }
        put(&mut self.first, f.first_seen);
        if f.last_seen == f.first_seen {
            // The same text, without formatting it again.
            if self.last.0 != Some(f.last_seen) {
                self.last.1.clear();
                self.last.1.extend_from_slice(&self.first.1);
                self.last.0 = Some(f.last_seen);
            }
        } else {
            put(&mut self.last, f.last_seen);
        }
    }

    /// The default `ProductArn` of `account`/`region` as a JSON string.
    fn product_arn(&mut self, account: &str, region: &str) -> &[u8] {
        let fresh = !matches!(&self.arn, Some((a, r, _)) if a == account && r == region);
        if fresh {
            let t = &mut self.text;
            t.clear();
            for part in [
                "arn:",
                partition(region),
                ":securityhub:",
                region,
                ":",
                account,
                ":product/",
                account,
                "/default",
            ] {
                t.push_str(part);
            }
            let mut json = Vec::with_capacity(t.len() + 2);
            json_str(&mut json, t);
            self.arn = Some((account.to_owned(), region.to_owned(), json));
        }
        self.arn.as_ref().map_or(&[], |(_, _, j)| j)
    }

    /// The `Severity` object of `score`.
    fn severity(&mut self, score: f64) -> &[u8] {
        let bits = score.to_bits();
        if !matches!(&self.severity, Some((b, _)) if *b == bits) {
            let mut json = Vec::with_capacity(40);
            severity(&mut json, score);
            self.severity = Some((bits, json));
        }
        self.severity.as_ref().map_or(&[], |(_, j)| j)
    }
}

/// Writes one finding as an `AwsSecurityFinding` (JSON) to `out`, without building a JSON tree.
pub fn write_finding(out: &mut Vec<u8>, f: &Finding, o: &AsffOptions) -> Result<(), OutputError> {
    write_part(std::slice::from_ref(f), o, out);
    Ok(())
}

fn write_with(out: &mut Vec<u8>, sc: &mut Scratch, f: &Finding, o: &AsffOptions, rule: &RuleText) {
    let account = f
        .account
        .as_deref()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(&o.default_account);
    let region = f
        .region
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(&o.default_region);
    sc.times(f);
    let mut v = Obj::open(out);
    sc.net.clear();
    if let Some(e) = f.evidence.first() {
        action_and_network(&mut v, &mut sc.net, f, e, (&sc.first.1, &sc.last.1));
    }
    v.str("AwsAccountId", account);
    // Every member from here on has one before it: the rest is written as runs of bytes.
    let out = v.into_inner();
    out.extend_from_slice(&rule.head);
    out.extend_from_slice(sc.severity(f.severity));
    out.extend_from_slice(&rule.types_first);
    out.extend_from_slice(&sc.first.1);
    out.extend_from_slice(&rule.generator_id);
    sc.text.clear();
    for part in ["trailhound/", account, "/", region, "/", &f.id] {
        sc.text.push_str(part);
    }
    json_str(out, &clip(&sc.text, 512));
    out.extend_from_slice(b",\"LastObservedAt\":");
    out.extend_from_slice(&sc.last.1);
    if !sc.net.is_empty() {
        out.extend_from_slice(b",\"Network\":");
        out.extend_from_slice(&sc.net);
    }
    out.extend_from_slice(b",\"ProductArn\":");
    match &o.product_arn {
        Some(p) => json_str(out, p),
        None => out.extend_from_slice(sc.product_arn(account, region)),
    }
    out.extend_from_slice(b",\"ProductFields\":");
    product_fields(out, f, rule);
    out.extend_from_slice(
        b",\"ProductName\":\"trailhound\",\"RecordState\":\"ACTIVE\",\"Region\":",
    );
    json_str(out, region);
    out.extend_from_slice(b",\"Resources\":");
    resource(out, f, account, region);
    out.extend_from_slice(b",\"SchemaVersion\":\"2018-10-08\",\"Severity\":");
    out.extend_from_slice(sc.severity(f.severity));
    out.extend_from_slice(&rule.tail);
}

/// One finding as an `AwsSecurityFinding` JSON value (for callers that edit it; the writers
/// serialise with [`write_finding`]).
pub fn finding(f: &Finding, o: &AsffOptions) -> Value {
    let mut buf = Vec::with_capacity(2048);
    match write_finding(&mut buf, f, o).map(|()| serde_json::from_slice(&buf)) {
        Ok(Ok(v)) => v,
        // Writing to a Vec and reading back our own JSON cannot fail.
        _ => Value::Null,
    }
}

/// Findings serialised per chunk of this many.
const CHUNK: usize = 1024;

/// Chunk `i` of the JSON array: `[` or `,` before it, `]` after the last.
fn array_chunk(
    findings: &[Finding],
    o: &AsffOptions,
    i: usize,
    chunks: usize,
    out: &mut Vec<u8>,
) -> Result<(), OutputError> {
    let part = crate::stream::chunk(findings, i, CHUNK);
    out.reserve(part.len() * 2048 + 4);
    out.push(if i == 0 { b'[' } else { b',' });
    write_part(part, o, out);
    if i + 1 == chunks {
        out.extend_from_slice(b"]\n");
    }
    Ok(())
}

/// Writes the findings as one JSON array of ASFF findings to `w` (serialised on the rayon pool
/// while earlier chunks are written).
pub fn write_json<W: std::io::Write + Send + ?Sized>(
    w: &mut W,
    findings: &[Finding],
    o: &AsffOptions,
) -> Result<(), OutputError> {
    let chunks = findings.len().div_ceil(CHUNK).max(1);
    crate::stream::write_chunks(w, chunks, |i, out| array_chunk(findings, o, i, chunks, out))
}

/// The most a request body may weigh (Security Hub's limit is 6 MB; a margin for the CLI's
/// wrapping).
pub const MAX_REQUEST_BYTES: usize = 5_500_000;
/// The most findings a `BatchImportFindings` call takes.
pub const MAX_BATCH: usize = 100;

/// Findings per chunk of `asff-batches`. Bodies are cut per chunk (a body never holds findings of
/// two chunks); as this is a multiple of [`MAX_BATCH`], that only shows where the byte limit cuts
/// a body short, which findings of a few kilobytes never make it do.
const BATCH_CHUNK: usize = MAX_BATCH * 10;

/// The bytes of a body around its findings: `{"Findings":[` and `]}` and a newline.
const BODY_HEAD: &[u8] = b"{\"Findings\":[";
const BODY_TAIL: &[u8] = b"]}\n";

/// Cuts a serialised chunk (findings ending at `ends`, one comma between neighbours) into bodies
/// of at most `max_batch` findings and `max_bytes` bytes, greedily; returns their byte ranges (a
/// finding larger than `max_bytes` on its own still gets a body of its own).
fn cut_bodies(ends: &[usize], max_batch: usize, max_bytes: usize) -> Vec<(usize, usize)> {
    let overhead = BODY_HEAD.len() + BODY_TAIL.len();
    let mut bodies = Vec::new();
    let (mut first, mut start, mut size) = (0, 0, overhead);
    for (i, &end) in ends.iter().enumerate() {
        let own = if i == 0 { 0 } else { ends[i - 1] + 1 };
        let len = end - own;
        // The body's bytes with this finding added (a comma before it unless it is the first).
        if i > first && (i - first == max_batch || size + 1 + len > max_bytes) {
            bodies.push((start, ends[i - 1]));
            (first, start, size) = (i, own, overhead);
        }
        size += len + usize::from(i > first);
    }
    if let Some(&last) = ends.last() {
        bodies.push((start, last));
    }
    bodies
}

/// Writes the findings as `BatchImportFindings` request bodies (`{"Findings": [...]}`) of at most
/// [`MAX_BATCH`] findings and [`MAX_REQUEST_BYTES`] bytes each: body `i` (from 0, in the order
/// of the findings) goes to `sink(i, parts)`, whose parts, written one after the other, are the
/// body. Returns how many bodies there were.
///
/// `workers` threads each take a chunk of findings, serialise it into a buffer they reuse, and
/// hand its bodies to `sink` while the others serialise theirs: a sink that writes and syncs a
/// file per body overlaps the disk with the serialising, and 100,000 findings never sit in memory
/// as 150 MB of JSON at once. Bodies can reach the sink out of order; the first error stops the
/// rest and is returned.
///
/// ```
/// use std::sync::Mutex;
/// use trailhound_output::asff::{write_batches, AsffOptions};
/// let got = Mutex::new(Vec::new());
/// let n = write_batches(&[], &AsffOptions::default(), 4, |i, _| {
///     got.lock().unwrap().push(i);
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!((n, got.into_inner().unwrap().len()), (0, 0));
/// ```
pub fn write_batches(
    findings: &[Finding],
    o: &AsffOptions,
    workers: usize,
    sink: impl Fn(usize, &[&[u8]]) -> std::io::Result<()> + Sync,
) -> Result<usize, OutputError> {
    write_batches_with(findings, o, workers, MAX_BATCH, MAX_REQUEST_BYTES, sink)
}

fn write_batches_with(
    findings: &[Finding],
    o: &AsffOptions,
    workers: usize,
    max_batch: usize,
    max_bytes: usize,
    sink: impl Fn(usize, &[&[u8]]) -> std::io::Result<()> + Sync,
) -> Result<usize, OutputError> {
    // Each worker serialises a chunk and cuts it into bodies; in its turn it numbers them after
    // the chunks before it (the state is the next body's number); then it hands them to the sink
    // while the others go on.
    let mut bodies_so_far = 0;
    crate::stream::in_turn(
        findings.len().div_ceil(BATCH_CHUNK),
        workers,
        &mut bodies_so_far,
        |k, buf| {
            let part = crate::stream::chunk(findings, k, BATCH_CHUNK);
            buf.reserve(part.len() * 2048);
            let ends = write_part(part, o, buf);
            Ok(cut_bodies(&ends, max_batch, max_bytes))
        },
        |next, _, bodies| {
            let first = *next;
            *next += bodies.len();
            Ok(first)
        },
        |buf, bodies, first| {
            bodies.iter().enumerate().try_for_each(|(j, &(s, e))| {
                sink(first + j, &[BODY_HEAD, &buf[s..e], BODY_TAIL]).map_err(OutputError::Io)
            })
        },
    )?;
    Ok(bodies_so_far)
}

/// Request bodies (`{"Findings": [...]}`) of at most [`MAX_BATCH`] findings and
/// [`MAX_REQUEST_BYTES`] bytes each, each in a buffer of its own (see [`write_batches`] to write
/// them as they are made).
pub fn batches(findings: &[Finding], o: &AsffOptions) -> Result<Vec<Vec<u8>>, OutputError> {
    batches_with(findings, o, MAX_BATCH, MAX_REQUEST_BYTES)
}

fn batches_with(
    findings: &[Finding],
    o: &AsffOptions,
    max_batch: usize,
    max_bytes: usize,
) -> Result<Vec<Vec<u8>>, OutputError> {
    let bodies = std::sync::Mutex::new(Vec::new());
    let workers = rayon::current_num_threads();
    write_batches_with(findings, o, workers, max_batch, max_bytes, |i, parts| {
        let body = parts.concat();
        let mut b = bodies
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        b.push((i, body));
        Ok(())
    })?;
    let mut bodies = bodies.into_inner().unwrap_or_default();
    bodies.sort_unstable_by_key(|(i, _)| *i);
    Ok(bodies.into_iter().map(|(_, b)| b).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_written_only_when_it_is_canonical() {
        // `json_ip` writes an IPv4 address's own text: the parser must refuse every other
        // spelling of an address, so that text is always what `Display` would write.
        for t in ["10.0.0.1", "203.0.113.255", "0.0.0.0"] {
            let Some(ip @ IpDetails::V4(a, _)) = ip_details(t) else {
                panic!("{t} is an address");
            };
            let mut out = Vec::new();
            json_ip(&mut out, ip);
            assert_eq!(out, format!("\"{a}\"").into_bytes());
        }
        for t in [
            "010.0.0.1",
            "10.0.0.01",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.1",
            "0x0a.0.0.1",
        ] {
            assert!(
                ip_details(t).is_none(),
                "{t:?} must not pass as an IPv4 address"
            );
        }
        let mut out = Vec::new();
        json_ip(
            &mut out,
            ip_details("2001:DB8:0:0::1").unwrap_or(IpDetails::V4([0; 4].into(), "")),
        );
        assert_eq!(out, b"\"2001:db8::1\"");
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é\u{2028}\u{10ffff}\"\\/ end");
        // Escapes inside a 16-byte block, in the remainder, and none at all (the fast path).
        let mut cases = vec![all.clone(), String::new(), "plain".into(), "\"".into()];
        cases.push("a\u{1}b\u{7f}".into());
        for at in [0, 7, 15, 16, 31, 33] {
            let mut t: Vec<u8> = b"0123456789abcdef0123456789abcdef01234".to_vec();
            for esc in [b'"', b'\\', b'\n', 0x1f] {
                t[at] = esc;
                cases.push(String::from_utf8_lossy(&t).into_owned());
            }
        }
        cases.push("0123456789abcdef".into());
        for s in cases.iter().map(String::as_str) {
            let mut out = Vec::new();
            json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).ok(),
                serde_json::to_string(s).ok(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn written_findings_are_json_with_sorted_keys() {
        let f = Finding {
            id: "abc".into(),
            finding_type: "Recon:EC2/PortProbeUnprotectedPort".into(),
            severity: 5.0,
            severity_label: "Medium",
            title: "T \"quoted\"".into(),
            description: "D\nline".into(),
            account: Some("111122223333".into()),
            region: Some("eu-west-1".into()),
            resource: trailhound_detect::finding::Resource {
                kind: "Instance".into(),
                id: "i-1".into(),
            },
            count: 3,
            first_seen: 1_704_067_200_000,
            last_seen: 1_704_067_260_000,
            rule_id: "r".into(),
            rule_path: "p.yml".into(),
            attack: ["attack.t1046".into()].into(),
            evidence: vec![Evidence {
                src_addr: Some("198.51.100.7".into()),
                src_port: Some(40000),
                dst_addr: Some("10.0.0.5".into()),
                dst_port: Some(22),
                protocol: Some(6),
                action: Some("REJECT".into()),
                ..Evidence::default()
            }],
            samples: vec!["s".into()],
        };
        let v = finding(&f, &AsffOptions::default());
        // Reading back through serde_json (its maps sort keys) and writing again must give the
        // same bytes: keys come out sorted at every level and the JSON is valid.
        let mut out = Vec::new();
        write_finding(&mut out, &f, &AsffOptions::default()).ok();
        assert_eq!(serde_json::to_vec(&v).ok(), Some(out));
        assert_eq!(v["Action"]["ActionType"], "PORT_PROBE");
        assert_eq!(
            v["Action"]["PortProbeAction"]["PortProbeDetails"][0]["RemoteIpDetails"]["IpAddressV4"],
            "198.51.100.7"
        );
        assert_eq!(v["Network"]["Direction"], "IN");
        assert_eq!(v["Network"]["DestinationPort"], 22);
        assert_eq!(v["Severity"]["Original"], "5.0");
        assert_eq!(v["ProductFields"]["trailhound/count"], "3");
        assert_eq!(v["Title"], "T \"quoted\"");
        assert_eq!(
            v["Resources"][0]["Id"],
            "arn:aws:ec2:eu-west-1:111122223333:instance/i-1"
        );
    }

    /// `n` findings, the description of finding `i` `i * 37 % 500` bytes long (bodies of varied
    /// sizes), ids in order.
    fn many(n: usize) -> Vec<Finding> {
        (0..n)
            .map(|i| Finding {
                id: format!("f{i:05}"),
                finding_type: "Recon:EC2/Portscan".into(),
                severity: 2.0,
                severity_label: "Low",
                title: "t".into(),
                description: "d".repeat(i * 37 % 500).into(),
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into()),
                resource: trailhound_detect::finding::Resource {
                    kind: "Instance".into(),
                    id: format!("i-{i}"),
                },
                count: 1,
                first_seen: 1_704_067_200_000,
                last_seen: 1_704_067_200_000,
                rule_id: "r".into(),
                rule_path: "p.yml".into(),
                ..Finding::default()
            })
            .collect()
    }

    #[test]
    fn batches_hold_every_finding_once_in_order_within_both_limits() {
        let fs = many(2_345);
        let o = AsffOptions::default();
        let one: Vec<Value> = {
            let mut out = Vec::new();
            write_json(&mut out, &fs, &o).ok();
            serde_json::from_slice(&out).unwrap_or_default()
        };
        assert_eq!(one.len(), fs.len());
        // The byte limit binds here (findings are ~1.5-2 kB: a dozen fit in 20 kB), and with the
        // real limits the count does.
        for (max_batch, max_bytes) in [(100, 20_000), (MAX_BATCH, MAX_REQUEST_BYTES)] {
            let bodies = batches_with(&fs, &o, max_batch, max_bytes).unwrap_or_default();
            let mut all = Vec::new();
            for (k, b) in bodies.iter().enumerate() {
                assert!(b.len() <= max_bytes, "body {k}: {} bytes", b.len());
                let v: Value = serde_json::from_slice(b).unwrap_or_default();
                let items = v["Findings"].as_array().cloned().unwrap_or_default();
                assert!((1..=max_batch).contains(&items.len()), "body {k}");
                // Greedy: the next body's first finding would not have fitted in this one, unless
                // this body ends a chunk (bodies are cut per chunk of findings).
                let ends_chunk = (all.len() + items.len()) % BATCH_CHUNK == 0;
                if let Some(next) = bodies.get(k + 1).filter(|_| !ends_chunk) {
                    let first = serde_json::from_slice::<Value>(next).unwrap_or_default();
                    let first = serde_json::to_vec(&first["Findings"][0]).unwrap_or_default();
                    assert!(
                        items.len() == max_batch || b.len() + first.len() + 1 > max_bytes,
                        "body {k} could have held one more: {} + {} of {}",
                        b.len(),
                        first.len(),
                        items.len()
                    );
                }
                all.extend(items);
            }
            assert_eq!(all, one, "limits {max_batch}/{max_bytes}");
        }
        let real = batches(&fs, &o).unwrap_or_default();
        assert_eq!(real.len(), fs.len().div_ceil(MAX_BATCH));
    }

    #[test]
    fn a_failing_sink_is_the_error_and_stops_the_rest() {
        let fs = many(5_000);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let r = write_batches(&fs, &AsffOptions::default(), 4, |i, _| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i == 7 {
                Err(std::io::Error::other("disk full"))
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(OutputError::Io(e)) if e.to_string() == "disk full"));
        // Four workers were at most a chunk (ten bodies) each ahead when body 7 failed.
        let calls = calls.into_inner();
        assert!(calls < 50, "{calls} bodies written after the failure");
    }

    #[test]
    fn types_follow_guardduty_mapping() {
        assert_eq!(
            asff_type("Backdoor:EC2/C&CActivity.B"),
            "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"
        );
        assert_eq!(
            asff_type("Recon:EC2/Portscan"),
            "TTPs/Discovery/Recon:EC2-Portscan"
        );
        assert_eq!(
            asff_type("Behavior:EC2/NetworkPortUnusual"),
            "Unusual Behaviors/VM/Behavior:EC2-NetworkPortUnusual"
        );
        assert_eq!(
            asff_type("Policy:S3/BucketAnonymousAccessGranted"),
            "Software and Configuration Checks/AWS Security Best Practices/Policy:S3-BucketAnonymousAccessGranted"
        );
        assert_eq!(label(8.0), "HIGH");
        assert_eq!(label(5.0), "MEDIUM");
        assert_eq!(label(2.0), "LOW");
    }
}
