//! AWS Security Finding Format, as Security Hub's `BatchImportFindings` takes it.
//!
//! Each finding becomes an `AwsSecurityFinding` of a custom product (by default
//! `arn:aws:securityhub:<region>:<account>:product/<account>/default`, the integration every
//! account has). `Types` follow GuardDuty's own Security Hub mapping (namespace and category from
//! the threat purpose, then the type with `/` made `-`); `Severity.Label` is the band of the
//! GuardDuty-scale score, which goes in `Severity.Original` (and both in `FindingProviderFields`);
//! `Resources` are typed (`AwsIamAccessKey`, `AwsEc2Instance`, `AwsS3Bucket`, …); `Action` and
//! `Network` come from the earliest sample event; `ProductFields` carry the count, the rule and
//! the sample event ids. [`batches`] cuts findings into request bodies of at most 100 findings and
//! under the 6 MB request limit.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use sonic_rs::LazyValue;
use trailhound_detect::finding::{Evidence, Finding};

use crate::OutputError;

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
#[derive(Serialize, Clone, Copy)]
enum IpDetails {
    #[serde(rename = "IpAddressV4")]
    V4(std::net::Ipv4Addr),
    #[serde(rename = "IpAddressV6")]
    V6(std::net::Ipv6Addr),
}

fn ip_details(ip: &str) -> Option<IpDetails> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(IpDetails::V4(a)),
        std::net::IpAddr::V6(a) => Some(IpDetails::V6(a)),
    }
}

fn is_private(ip: Option<IpDetails>) -> bool {
    match ip {
        Some(IpDetails::V4(a)) => {
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (a.octets()[0] == 100 && (64..128).contains(&a.octets()[1]))
        }
        Some(IpDetails::V6(a)) => (a.segments()[0] & 0xfe00) == 0xfc00 || a.is_loopback(),
        None => false,
    }
}

/// An address as `Network`'s separate v4 and v6 members.
fn v4_v6(ip: Option<IpDetails>) -> (Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>) {
    match ip {
        Some(IpDetails::V4(a)) => (Some(a), None),
        Some(IpDetails::V6(a)) => (None, Some(a)),
        None => (None, None),
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

// The structs below are the ASFF objects trailhound fills. Their fields are declared in
// alphabetical order so that the output keeps the sorted key order of a JSON object tree (the
// snapshot tests pin it), while serialising straight from the finding without building a tree.

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AsffFinding<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Action<'a>>,
    aws_account_id: &'a str,
    company_name: &'static str,
    created_at: &'a str,
    description: &'a LazyValue<'a>,
    finding_provider_fields: ProviderFields<'a>,
    first_observed_at: &'a str,
    generator_id: &'a LazyValue<'a>,
    id: String,
    last_observed_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network<'a>>,
    product_arn: Cow<'a, str>,
    product_fields: ProductFields<'a>,
    product_name: &'static str,
    record_state: &'static str,
    region: &'a str,
    resources: [AsffResource<'a>; 1],
    schema_version: &'static str,
    severity: Severity,
    title: &'a LazyValue<'a>,
    types: &'a LazyValue<'a>,
    updated_at: &'a str,
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "PascalCase")]
struct Severity {
    label: &'static str,
    original: Original,
}

/// A score printed with one decimal, as a JSON string.
#[derive(Clone, Copy)]
struct Original(f64);

impl Serialize for Original {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Integer tenths: `{:.1}` on an f64 takes the exact (bignum) formatting path.
        let tenths = (self.0 * 10.0).round();
        if tenths.is_finite() && tenths.abs() < 1e15 {
            let t = tenths as i64;
            let sign = if t < 0 { "-" } else { "" };
            let t = t.unsigned_abs();
            s.collect_str(&format_args!("{sign}{}.{}", t / 10, t % 10))
        } else {
            s.collect_str(&format_args!("{:.1}", self.0))
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProviderFields<'a> {
    severity: Severity,
    types: &'a LazyValue<'a>,
}

/// `ProductFields`: a string map, keys in sorted order.
struct ProductFields<'a> {
    f: &'a Finding,
    rule: &'a RuleJson<'a>,
}

impl Serialize for ProductFields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let f = self.f;
        let mut m = s.serialize_map(None)?;
        if let Some(attack) = &self.rule.attack {
            m.serialize_entry("trailhound/attack", attack)?;
        }
        m.serialize_entry("trailhound/count", &Count(f.count))?;
        m.serialize_entry("trailhound/finding_id", &f.id)?;
        m.serialize_entry("trailhound/rule_id", &self.rule.rule_id)?;
        m.serialize_entry("trailhound/rule_path", &self.rule.rule_path)?;
        // Keys sort as text: sample/10 comes before sample/2.
        let mut order: Vec<usize> = (0..f.samples.len()).collect();
        if order.len() > 10 {
            order.sort_by_cached_key(|i| i.to_string());
        }
        let mut key = String::with_capacity(24);
        for i in order {
            let v = f
                .evidence
                .get(i)
                .and_then(|e| e.event_id.as_deref())
                .unwrap_or(&f.samples[i]);
            key.clear();
            let _ = write!(key, "trailhound/sample/{i}");
            m.serialize_entry(&key, &clip(v, 2048))?;
        }
        m.serialize_entry("trailhound/type", &self.rule.finding_type)?;
        m.end()
    }
}

/// A count as a JSON string (`ProductFields` values are strings).
struct Count(u64);

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AsffResource<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<ResourceDetails<'a>>,
    id: Cow<'a, str>,
    partition: &'static str,
    region: Cow<'a, str>,
    #[serde(rename = "Type")]
    ty: &'static str,
}

#[derive(Serialize)]
struct ResourceDetails<'a> {
    #[serde(rename = "Other")]
    other: OtherDetails<'a>,
}

#[derive(Serialize)]
struct OtherDetails<'a> {
    #[serde(rename = "trailhound/resource_id")]
    id: Cow<'a, str>,
    #[serde(rename = "trailhound/resource_type")]
    kind: Cow<'a, str>,
}

fn resource<'a>(f: &'a Finding, account: &str, region: &'a str) -> AsffResource<'a> {
    let p = partition(region);
    let id = f.resource.id.as_str();
    let (ty, rid): (&'static str, Cow<'a, str>) = match f.resource.kind.as_str() {
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
    let details = (ty == "Other").then(|| ResourceDetails {
        other: OtherDetails {
            id: clip(id, 1024),
            kind: clip(&f.resource.kind, 1024),
        },
    });
    AsffResource {
        details,
        id: match rid {
            Cow::Borrowed(s) => clip(s, 512),
            Cow::Owned(s) => Cow::Owned(clip(&s, 512).into_owned()),
        },
        partition: p,
        region: clip(region, 16),
        ty,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Action<'a> {
    action_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_api_call_action: Option<ApiCallAction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_request_action: Option<DnsRequestAction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_connection_action: Option<NetworkConnectionAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port_probe_action: Option<PortProbeAction>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApiCallAction<'a> {
    api: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain_details: Option<DomainDetails<'a>>,
    first_seen: &'a str,
    last_seen: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_ip_details: Option<IpDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DomainDetails<'a> {
    domain: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DnsRequestAction<'a> {
    blocked: bool,
    domain: Cow<'a, str>,
    protocol: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PortDetails {
    port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkConnectionAction {
    blocked: bool,
    connection_direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_port_details: Option<PortDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_ip_details: Option<IpDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port_details: Option<PortDetails>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PortProbeAction {
    blocked: bool,
    port_probe_details: [PortProbeDetail; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PortProbeDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    local_ip_details: Option<IpDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_port_details: Option<PortDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_ip_details: Option<IpDetails>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Network<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_domain: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_ip_v4: Option<std::net::Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_ip_v6: Option<std::net::Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_port: Option<u16>,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip_v4: Option<std::net::Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip_v6: Option<std::net::Ipv6Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_port: Option<u16>,
}

fn action_and_network<'a>(
    f: &'a Finding,
    e: &'a Evidence,
) -> (Option<Action<'a>>, Option<Network<'a>>) {
    let empty = |action_type| Action {
        action_type,
        aws_api_call_action: None,
        dns_request_action: None,
        network_connection_action: None,
        port_probe_action: None,
    };
    if let Some(api) = &e.api {
        let mut a = ApiCallAction {
            api: clip(api, 1024),
            caller_type: None,
            domain_details: None,
            first_seen: &f.first_seen,
            last_seen: &f.last_seen,
            remote_ip_details: None,
            service_name: e.service.as_deref().map(|s| clip(s, 1024)),
        };
        if let Some(c) = &e.caller {
            match ip_details(c) {
                Some(ip) => {
                    a.caller_type = Some("remoteip");
                    a.remote_ip_details = Some(ip);
                }
                None => {
                    a.caller_type = Some("domain");
                    a.domain_details = Some(DomainDetails {
                        domain: clip(c, 128),
                    });
                }
            }
        }
        let mut action = empty("AWS_API_CALL");
        action.aws_api_call_action = Some(a);
        return (Some(action), None);
    }
    if let Some(domain) = &e.domain {
        let mut action = empty("DNS_REQUEST");
        action.dns_request_action = Some(DnsRequestAction {
            blocked: false,
            domain: clip(domain, 128),
            protocol: "DNS",
        });
        let mut n = Network {
            direction: "OUT",
            destination_domain: Some(clip(domain, 128)),
            ..Network::default()
        };
        (n.source_ip_v4, n.source_ip_v6) = v4_v6(e.src_addr.as_deref().and_then(ip_details));
        return (Some(action), Some(n));
    }
    let (Some(src), Some(dst)) = (&e.src_addr, &e.dst_addr) else {
        return (None, None);
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
    let mut n = Network {
        direction,
        protocol: proto.clone(),
        source_port: e.src_port,
        destination_port: e.dst_port,
        ..Network::default()
    };
    (n.source_ip_v4, n.source_ip_v6) = v4_v6(src_ip);
    (n.destination_ip_v4, n.destination_ip_v6) = v4_v6(dst_ip);
    let action = if f.finding_type.contains("PortProbe") {
        let mut action = empty("PORT_PROBE");
        action.port_probe_action = Some(PortProbeAction {
            blocked,
            port_probe_details: [PortProbeDetail {
                local_ip_details: local.filter(|d| matches!(d, IpDetails::V4(_))),
                local_port_details: lport.map(|port| PortDetails { port }),
                remote_ip_details: remote,
            }],
        });
        action
    } else {
        let mut action = empty("NETWORK_CONNECTION");
        action.network_connection_action = Some(NetworkConnectionAction {
            blocked,
            connection_direction: direction,
            local_port_details: lport.map(|port| PortDetails { port }),
            protocol: proto,
            remote_ip_details: remote,
            remote_port_details: rport.map(|port| PortDetails { port }),
        });
        action
    };
    (Some(action), Some(n))
}

/// The JSON texts of the parts of an ASFF finding that depend only on its rule (description,
/// title, types, rule fields): escaped once per rule and chunk, then written raw. They are about
/// a third of every finding's bytes.
struct RuleText {
    description: String,
    title: String,
    generator_id: String,
    types: String,
    attack: Option<String>,
    rule_id: String,
    rule_path: String,
    finding_type: String,
}

impl RuleText {
    fn new(f: &Finding) -> Result<Self, OutputError> {
        let text = |s: &str| sonic_rs::to_string(s);
        Ok(RuleText {
            description: text(&clip(f.description.trim(), 1024))?,
            title: text(&clip(&f.title, 256))?,
            generator_id: text(&clip(&f.rule_id, 512))?,
            types: sonic_rs::to_string(&[asff_type(&f.finding_type)])?,
            attack: match f.attack.is_empty() {
                true => None,
                false => Some(text(&clip(&f.attack.join(" "), 2048))?),
            },
            rule_id: text(&clip(&f.rule_id, 2048))?,
            rule_path: text(&clip(&f.rule_path, 2048))?,
            finding_type: text(&clip(&f.finding_type, 2048))?,
        })
    }

    fn lazy(&self) -> Result<RuleJson<'_>, OutputError> {
        fn raw(s: &str) -> Result<LazyValue<'_>, sonic_rs::Error> {
            sonic_rs::from_str(s)
        }
        Ok(RuleJson {
            description: raw(&self.description)?,
            title: raw(&self.title)?,
            generator_id: raw(&self.generator_id)?,
            types: raw(&self.types)?,
            attack: self.attack.as_deref().map(raw).transpose()?,
            rule_id: raw(&self.rule_id)?,
            rule_path: raw(&self.rule_path)?,
            finding_type: raw(&self.finding_type)?,
        })
    }
}

/// [`RuleText`] as values that serialise raw.
struct RuleJson<'a> {
    description: LazyValue<'a>,
    title: LazyValue<'a>,
    generator_id: LazyValue<'a>,
    types: LazyValue<'a>,
    attack: Option<LazyValue<'a>>,
    rule_id: LazyValue<'a>,
    rule_path: LazyValue<'a>,
    finding_type: LazyValue<'a>,
}

/// What makes two findings' [`RuleText`] the same.
type RuleKey<'f> = (&'f str, &'f str, &'f str, &'f str, &'f str, &'f [String]);

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
fn write_part(
    part: &[Finding],
    o: &AsffOptions,
    out: &mut Vec<u8>,
) -> Result<Vec<usize>, OutputError> {
    let mut index: hashbrown::HashMap<RuleKey<'_>, usize> = Default::default();
    let mut texts = Vec::new();
    let mut which = Vec::with_capacity(part.len());
    for f in part {
        let next = index.len();
        let i = *index.entry(rule_key(f)).or_insert(next);
        if i == texts.len() {
            texts.push(RuleText::new(f)?);
        }
        which.push(i);
    }
    let rules = texts
        .iter()
        .map(RuleText::lazy)
        .collect::<Result<Vec<_>, _>>()?;
    let mut ends = Vec::with_capacity(part.len());
    for (j, (f, &i)) in part.iter().zip(&which).enumerate() {
        if j > 0 {
            out.push(b',');
        }
        write_with(out, f, o, &rules[i])?;
        ends.push(out.len());
    }
    Ok(ends)
}

/// Writes one finding as an `AwsSecurityFinding` (JSON) to `out`, without building a JSON tree.
pub fn write_finding(out: &mut Vec<u8>, f: &Finding, o: &AsffOptions) -> Result<(), OutputError> {
    write_part(std::slice::from_ref(f), o, out).map(drop)
}

fn write_with(
    out: &mut Vec<u8>,
    f: &Finding,
    o: &AsffOptions,
    rule: &RuleJson<'_>,
) -> Result<(), OutputError> {
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
    let product: Cow<'_, str> = match &o.product_arn {
        Some(p) => Cow::Borrowed(p),
        None => Cow::Owned(format!(
            "arn:{}:securityhub:{region}:{account}:product/{account}/default",
            partition(region)
        )),
    };
    let severity = Severity {
        label: label(f.severity),
        original: Original(f.severity),
    };
    let (action, network) = match f.evidence.first() {
        Some(e) => action_and_network(f, e),
        None => (None, None),
    };
    let v = AsffFinding {
        action,
        aws_account_id: account,
        company_name: "trailhound",
        created_at: &o.now,
        description: &rule.description,
        finding_provider_fields: ProviderFields {
            severity,
            types: &rule.types,
        },
        first_observed_at: &f.first_seen,
        generator_id: &rule.generator_id,
        id: clip(&format!("trailhound/{account}/{region}/{}", f.id), 512).into_owned(),
        last_observed_at: &f.last_seen,
        network,
        product_arn: product,
        product_fields: ProductFields { f, rule },
        product_name: "trailhound",
        record_state: "ACTIVE",
        region,
        resources: [resource(f, account, region)],
        schema_version: "2018-10-08",
        severity,
        title: &rule.title,
        types: &rule.types,
        updated_at: &o.now,
    };
    // sonic-rs escapes strings with SIMD; serde_json's byte loop was a quarter of this function.
    sonic_rs::to_writer(out, &v)?;
    Ok(())
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
) -> Result<Vec<u8>, OutputError> {
    let part = crate::stream::chunk(findings, i, CHUNK);
    let mut out = Vec::with_capacity(part.len() * 2048 + 4);
    out.push(if i == 0 { b'[' } else { b',' });
    write_part(part, o, &mut out)?;
    if i + 1 == chunks {
        out.extend_from_slice(b"]\n");
    }
    Ok(out)
}

/// Writes the findings as one JSON array of ASFF findings to `w` (serialised on the rayon pool
/// while earlier chunks are written).
pub fn write_json<W: std::io::Write + Send + ?Sized>(
    w: &mut W,
    findings: &[Finding],
    o: &AsffOptions,
) -> Result<(), OutputError> {
    let chunks = findings.len().div_ceil(CHUNK).max(1);
    crate::stream::write_chunks(w, chunks, |i| array_chunk(findings, o, i, chunks))
}

/// The most a request body may weigh (Security Hub's limit is 6 MB; a margin for the CLI's
/// wrapping).
pub const MAX_REQUEST_BYTES: usize = 5_500_000;
/// The most findings a `BatchImportFindings` call takes.
pub const MAX_BATCH: usize = 100;

/// Request bodies (`{"Findings": [...]}`) of at most [`MAX_BATCH`] findings and
/// [`MAX_REQUEST_BYTES`] bytes each.
pub fn batches(findings: &[Finding], o: &AsffOptions) -> Result<Vec<Vec<u8>>, OutputError> {
    use rayon::prelude::*;
    // Each chunk's findings in one buffer, with where each ends (commas between them).
    let parts = findings
        .par_chunks(CHUNK)
        .map(|part| {
            let mut buf = Vec::with_capacity(part.len() * 2048);
            write_part(part, o, &mut buf).map(|ends| (buf, ends))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let each = parts.iter().flat_map(|(buf, ends)| {
        let starts = std::iter::once(0).chain(ends.iter().map(|e| e + 1));
        starts.zip(ends).map(move |(s, &e)| &buf[s..e])
    });
    let mut out = Vec::new();
    let mut cur: Vec<&[u8]> = Vec::new();
    let mut size = 16usize;
    let flush = |cur: &mut Vec<&[u8]>, out: &mut Vec<Vec<u8>>| {
        if cur.is_empty() {
            return;
        }
        let mut body = b"{\"Findings\":[".to_vec();
        for (i, f) in cur.drain(..).enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(f);
        }
        body.extend_from_slice(b"]}\n");
        out.push(body);
    };
    for bytes in each {
        if cur.len() == MAX_BATCH || size + bytes.len() + 1 > MAX_REQUEST_BYTES {
            flush(&mut cur, &mut out);
            size = 16;
        }
        size += bytes.len() + 1;
        cur.push(bytes);
    }
    flush(&mut cur, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
