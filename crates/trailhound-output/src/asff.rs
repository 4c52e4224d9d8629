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

use serde_json::{Map, Value, json};
use trailhound_detect::finding::{Evidence, Finding};

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
    clip(&t, 256)
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

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
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

fn ip_key(ip: &str) -> Option<(&'static str, String)> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => Some(("IpAddressV4", a.to_string())),
        std::net::IpAddr::V6(a) => Some(("IpAddressV6", a.to_string())),
    }
}

fn is_private(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (a.octets()[0] == 100 && (64..128).contains(&a.octets()[1]))
        }
        Ok(std::net::IpAddr::V6(a)) => (a.segments()[0] & 0xfe00) == 0xfc00 || a.is_loopback(),
        Err(_) => false,
    }
}

fn protocol_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPV6".into(),
        other => other.to_string(),
    }
}

fn resource(f: &Finding, account: &str, region: &str) -> Value {
    let p = partition(region);
    let id = f.resource.id.as_str();
    let (ty, rid) = match f.resource.kind.as_str() {
        "AccessKey" => ("AwsIamAccessKey", id.to_owned()),
        "IAMUser" => ("AwsIamUser", id.to_owned()),
        "IAMRole" | "AssumedRole" => ("AwsIamRole", id.to_owned()),
        "IAMPrincipal" if id.contains(":user/") => ("AwsIamUser", id.to_owned()),
        "IAMPrincipal" if id.contains(":role/") || id.contains(":assumed-role/") => {
            ("AwsIamRole", id.to_owned())
        }
        "Root" | "Account" => ("AwsAccount", format!("AWS::::Account:{account}")),
        "IAMPrincipal" if id.ends_with(":root") => {
            ("AwsAccount", format!("AWS::::Account:{account}"))
        }
        "Instance" => (
            "AwsEc2Instance",
            format!("arn:{p}:ec2:{region}:{account}:instance/{id}"),
        ),
        "NetworkInterface" => (
            "AwsEc2NetworkInterface",
            format!("arn:{p}:ec2:{region}:{account}:network-interface/{id}"),
        ),
        "S3Bucket" => ("AwsS3Bucket", format!("arn:{p}:s3:::{id}")),
        _ => ("Other", id.to_owned()),
    };
    let mut r = json!({
        "Type": ty,
        "Id": clip(&rid, 512),
        "Partition": p,
        "Region": clip(region, 16),
    });
    if ty == "Other" {
        r["Details"] = json!({"Other": {"trailhound/resource_type": clip(&f.resource.kind, 1024), "trailhound/resource_id": clip(id, 1024)}});
    }
    r
}

fn remote_ip(ip: &str) -> Option<Value> {
    ip_key(ip).map(|(k, v)| json!({ k: v }))
}

fn action_and_network(f: &Finding, e: &Evidence) -> (Option<Value>, Option<Value>) {
    if let Some(api) = &e.api {
        let mut a = Map::new();
        a.insert("Api".into(), json!(clip(api, 1024)));
        if let Some(s) = &e.service {
            a.insert("ServiceName".into(), json!(clip(s, 1024)));
        }
        if let Some(c) = &e.caller {
            match remote_ip(c) {
                Some(ip) => {
                    a.insert("CallerType".into(), json!("remoteip"));
                    a.insert("RemoteIpDetails".into(), ip);
                }
                None => {
                    a.insert("CallerType".into(), json!("domain"));
                    a.insert("DomainDetails".into(), json!({"Domain": clip(c, 128)}));
                }
            }
        }
        a.insert("FirstSeen".into(), json!(f.first_seen));
        a.insert("LastSeen".into(), json!(f.last_seen));
        return (
            Some(json!({"ActionType": "AWS_API_CALL", "AwsApiCallAction": a})),
            None,
        );
    }
    if let Some(domain) = &e.domain {
        let action = json!({"ActionType": "DNS_REQUEST", "DnsRequestAction": {"Domain": clip(domain, 128), "Protocol": "DNS", "Blocked": false}});
        let mut n = json!({"Direction": "OUT", "DestinationDomain": clip(domain, 128)});
        if let Some((k, v)) = e.src_addr.as_deref().and_then(ip_key) {
            n[if k == "IpAddressV4" {
                "SourceIpV4"
            } else {
                "SourceIpV6"
            }] = json!(v);
        }
        return (Some(action), Some(n));
    }
    let (Some(src), Some(dst)) = (&e.src_addr, &e.dst_addr) else {
        return (None, None);
    };
    let outbound = is_private(src) && !is_private(dst);
    let (local, remote, lport, rport) = if outbound {
        (src, dst, e.src_port, e.dst_port)
    } else {
        (dst, src, e.dst_port, e.src_port)
    };
    let blocked = e.action.as_deref() == Some("REJECT");
    let proto = e.protocol.map(protocol_name);
    let mut n = Map::new();
    n.insert(
        "Direction".into(),
        json!(if outbound { "OUT" } else { "IN" }),
    );
    if let Some(p) = &proto {
        n.insert("Protocol".into(), json!(p));
    }
    for (prefix, ip, port) in [
        ("Source", src, e.src_port),
        ("Destination", dst, e.dst_port),
    ] {
        if let Some((k, v)) = ip_key(ip) {
            let key = if k == "IpAddressV4" { "IpV4" } else { "IpV6" };
            n.insert(format!("{prefix}{key}"), json!(v));
        }
        if let Some(p) = port {
            n.insert(format!("{prefix}Port"), json!(p));
        }
    }
    let action = if f.finding_type.contains("PortProbe") {
        let mut d = Map::new();
        if let Some(p) = lport {
            d.insert("LocalPortDetails".into(), json!({"Port": p}));
        }
        if let Some((k, v)) = ip_key(local).filter(|(k, _)| *k == "IpAddressV4") {
            d.insert("LocalIpDetails".into(), json!({ k: v }));
        }
        if let Some(r) = remote_ip(remote) {
            d.insert("RemoteIpDetails".into(), r);
        }
        json!({"ActionType": "PORT_PROBE", "PortProbeAction": {"PortProbeDetails": [d], "Blocked": blocked}})
    } else {
        let mut c = Map::new();
        c.insert(
            "ConnectionDirection".into(),
            json!(if outbound { "OUT" } else { "IN" }),
        );
        if let Some(r) = remote_ip(remote) {
            c.insert("RemoteIpDetails".into(), r);
        }
        if let Some(p) = rport {
            c.insert("RemotePortDetails".into(), json!({"Port": p}));
        }
        if let Some(p) = lport {
            c.insert("LocalPortDetails".into(), json!({"Port": p}));
        }
        if let Some(p) = proto {
            c.insert("Protocol".into(), json!(p));
        }
        c.insert("Blocked".into(), json!(blocked));
        json!({"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": c})
    };
    (Some(action), Some(Value::Object(n)))
}

/// One finding as an `AwsSecurityFinding`.
pub fn finding(f: &Finding, o: &AsffOptions) -> Value {
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
    let product = o.product_arn.clone().unwrap_or_else(|| {
        format!(
            "arn:{}:securityhub:{region}:{account}:product/{account}/default",
            partition(region)
        )
    });
    let types = vec![asff_type(&f.finding_type)];
    let label = label(f.severity);
    let original = format!("{:.1}", f.severity);
    let mut pf = Map::new();
    pf.insert("trailhound/type".into(), json!(clip(&f.finding_type, 2048)));
    pf.insert("trailhound/count".into(), json!(f.count.to_string()));
    pf.insert("trailhound/rule_id".into(), json!(clip(&f.rule_id, 2048)));
    pf.insert(
        "trailhound/rule_path".into(),
        json!(clip(&f.rule_path, 2048)),
    );
    pf.insert("trailhound/finding_id".into(), json!(f.id));
    for (i, (s, e)) in f
        .samples
        .iter()
        .zip(f.evidence.iter().map(Some).chain(std::iter::repeat(None)))
        .enumerate()
    {
        let v = e
            .and_then(|e| e.event_id.clone())
            .unwrap_or_else(|| s.clone());
        pf.insert(format!("trailhound/sample/{i}"), json!(clip(&v, 2048)));
    }
    if !f.attack.is_empty() {
        pf.insert(
            "trailhound/attack".into(),
            json!(clip(&f.attack.join(" "), 2048)),
        );
    }
    let mut v = json!({
        "SchemaVersion": "2018-10-08",
        "Id": clip(&format!("trailhound/{account}/{region}/{}", f.id), 512),
        "ProductArn": product,
        "ProductName": "trailhound",
        "CompanyName": "trailhound",
        "GeneratorId": clip(&f.rule_id, 512),
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": o.now,
        "UpdatedAt": o.now,
        "FirstObservedAt": f.first_seen,
        "LastObservedAt": f.last_seen,
        "Severity": {"Label": label, "Original": original},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": original}, "Types": types},
        "Title": clip(&f.title, 256),
        "Description": clip(f.description.trim(), 1024),
        "Resources": [resource(f, account, region)],
        "ProductFields": pf,
        "RecordState": "ACTIVE",
        "Region": region,
    });
    if let Some(e) = f.evidence.first() {
        let (action, network) = action_and_network(f, e);
        if let Some(a) = action {
            v["Action"] = a;
        }
        if let Some(n) = network {
            v["Network"] = n;
        }
    }
    v
}

/// The findings as one JSON array of ASFF findings, in consecutive chunks (serialised in
/// parallel; write them one after another).
pub fn to_json_chunks(
    findings: &[Finding],
    o: &AsffOptions,
) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    use rayon::prelude::*;
    let mut parts: Vec<Vec<u8>> = findings
        .par_chunks(1024)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut out = Vec::with_capacity(chunk.len() * 2048);
            out.push(if ci == 0 { b'[' } else { b',' });
            for (i, f) in chunk.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &finding(f, o))?;
            }
            Ok(out)
        })
        .collect::<Result<_, serde_json::Error>>()?;
    if parts.is_empty() {
        parts.push(b"[".to_vec());
    }
    parts.push(b"]\n".to_vec());
    Ok(parts)
}

/// The most a request body may weigh (Security Hub's limit is 6 MB; a margin for the CLI's
/// wrapping).
pub const MAX_REQUEST_BYTES: usize = 5_500_000;
/// The most findings a `BatchImportFindings` call takes.
pub const MAX_BATCH: usize = 100;

/// Request bodies (`{"Findings": [...]}`) of at most [`MAX_BATCH`] findings and
/// [`MAX_REQUEST_BYTES`] bytes each.
pub fn batches(findings: &[Finding], o: &AsffOptions) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    let mut out = Vec::new();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut size = 16usize;
    let flush = |cur: &mut Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>| {
        if cur.is_empty() {
            return;
        }
        let mut body = b"{\"Findings\":[".to_vec();
        for (i, f) in cur.drain(..).enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend(f);
        }
        body.extend_from_slice(b"]}\n");
        out.push(body);
    };
    for f in findings {
        let bytes = serde_json::to_vec(&finding(f, o))?;
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
