//! Labelled attack scenarios injected into a corpus, with the findings they should produce.
//!
//! Each scenario writes real-looking records for one attack (a trail stopped, an SSH brute force,
//! a DNS tunnel…) into one object of the corpus and a ground-truth line naming the GuardDuty
//! finding type, the affected resource and how many records carry the attack. Later stages test
//! and benchmark against these labels.

use serde::Serialize;
use trailhound_model::LogKind;
use trailhound_model::time::format_millis;

use trailhound_rules::Rule;

use crate::netlogs::eni;
use crate::rng::Rng;

/// What an injected scenario should be found as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    /// Scenario name.
    pub scenario: String,
    /// Log kind it is written into.
    pub kind: LogKind,
    /// The GuardDuty finding type it should raise.
    pub finding_type: String,
    /// Account of the records.
    pub account: String,
    /// Resource type (`AccessKey`, `Instance`, …).
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Records injected.
    pub records: u64,
    /// Time of the first injected record.
    pub first_seen: String,
    /// Time of the last injected record.
    pub last_seen: String,
    /// The corpus object (relative path) holding them.
    pub object: String,
}

/// Records to add to one object.
#[derive(Debug, Clone)]
pub struct Injection {
    /// Kind of the object.
    pub kind: LogKind,
    /// Index of the object among that kind's objects.
    pub object: usize,
    /// Records (CloudTrail: JSON objects; flow: lines in the default v2 format; DNS: JSON lines).
    pub records: Vec<String>,
    /// The label.
    pub truth: GroundTruth,
}

#[allow(clippy::too_many_arguments)] // one CloudTrail call, written out field by field
fn ct(
    account: &str,
    t: i64,
    name: &str,
    source: &str,
    identity: &str,
    params: &str,
    ip: &str,
    agent: &str,
    id: u64,
) -> String {
    format!(
        "{{\"eventVersion\":\"1.09\",\"userIdentity\":{identity},\"eventTime\":\"{}Z\",\"eventSource\":\"{source}\",\"eventName\":\"{name}\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"{ip}\",\"userAgent\":\"{agent}\",\"requestParameters\":{params},\"responseElements\":null,\"requestID\":\"attack-{id:08x}\",\"eventID\":\"a77ac4a1-0000-4000-8000-{id:012x}\",\"readOnly\":false,\"eventType\":\"AwsApiCall\",\"managementEvent\":true,\"recipientAccountId\":\"{account}\",\"eventCategory\":\"Management\"}}",
        &format_millis(t)[..19]
    )
}

fn user(account: &str, name: &str, key: &str) -> String {
    format!(
        "{{\"type\":\"IAMUser\",\"principalId\":\"AIDAATTACKER{name}\",\"arn\":\"arn:aws:iam::{account}:user/{name}\",\"accountId\":\"{account}\",\"accessKeyId\":\"{key}\",\"userName\":\"{name}\"}}"
    )
}

/// Plans every scenario for a corpus with `objects[k]` objects of each kind, whose object `i`
/// starts at `slot_start(i)` and lasts `slot_ms`.
pub fn plan(
    seed: u64,
    kinds: &[(LogKind, usize)],
    slot_start: impl Fn(usize) -> i64,
    slot_ms: i64,
) -> Vec<Injection> {
    let mut out = Vec::new();
    let mut r = Rng::new(&[seed, 0xa77ac4]);
    let n_of = |k: LogKind| kinds.iter().find(|(x, _)| *x == k).map_or(0, |(_, n)| *n);
    let account = "111122223333";
    let pick = |k: LogKind, r: &mut Rng| -> Option<(usize, i64)> {
        let n = n_of(k);
        if n == 0 {
            return None;
        }
        // Accounts rotate per object (index % 3) and flow formats per index % 6: keep attacks in
        // objects of `account` written in the default format (index % 6 == 0).
        let i = (r.below(n.div_ceil(6) as u64) as usize * 6).min(n - 1) / 6 * 6;
        Some((i, slot_start(i) + r.below(slot_ms as u64 / 2) as i64))
    };
    let mut id = 0u64;
    let mut next_id = || {
        id += 1;
        id
    };
    let mk = |scenario,
              kind,
              finding_type,
              resource_type,
              resource_id: String,
              object: usize,
              recs: Vec<String>,
              t0: i64,
              t1: i64| Injection {
        kind,
        object,
        truth: GroundTruth {
            scenario: String::from(scenario),
            kind,
            finding_type: String::from(finding_type),
            account: account.to_owned(),
            resource_type: String::from(resource_type),
            resource_id,
            records: recs.len() as u64,
            first_seen: format_millis(t0),
            last_seen: format_millis(t1),
            object: String::new(),
        },
        records: recs,
    };

    if let Some((i, t)) = pick(LogKind::CloudTrail, &mut r) {
        let key = "AKIAATTACKSTOPLOG001";
        let rec = ct(
            account,
            t,
            "StopLogging",
            "cloudtrail.amazonaws.com",
            &user(account, "mallory", key),
            "{\"name\":\"arn:aws:cloudtrail:us-east-1:111122223333:trail/management\"}",
            "198.51.100.77",
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
            next_id(),
        );
        out.push(mk(
            "cloudtrail-stop-logging",
            LogKind::CloudTrail,
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            "AccessKey",
            key.into(),
            i,
            vec![rec],
            t,
            t,
        ));
    }
    if let Some((i, t)) = pick(LogKind::CloudTrail, &mut r) {
        let key = "AKIAATTACKPWPOLICY01";
        let rec = ct(
            account,
            t,
            "UpdateAccountPasswordPolicy",
            "iam.amazonaws.com",
            &user(account, "mallory", key),
            "{\"minimumPasswordLength\":6,\"requireSymbols\":false,\"requireNumbers\":false,\"requireUppercaseCharacters\":false,\"requireLowercaseCharacters\":false,\"allowUsersToChangePassword\":true}",
            "198.51.100.77",
            "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
            next_id(),
        );
        out.push(mk(
            "password-policy-weakened",
            LogKind::CloudTrail,
            "Stealth:IAMUser/PasswordPolicyChange",
            "AccessKey",
            key.into(),
            i,
            vec![rec],
            t,
            t,
        ));
    }
    if let Some((i, t)) = pick(LogKind::CloudTrail, &mut r) {
        let root = format!(
            "{{\"type\":\"Root\",\"principalId\":\"{account}\",\"arn\":\"arn:aws:iam::{account}:root\",\"accountId\":\"{account}\",\"accessKeyId\":\"AKIAROOTKEYEXAMPLE01\"}}"
        );
        let recs: Vec<String> = (0..3)
            .map(|k| {
                ct(
                    account,
                    t + k * 1000,
                    "ListBuckets",
                    "s3.amazonaws.com",
                    &root,
                    "{\"Host\":\"s3.amazonaws.com\"}",
                    "203.0.113.200",
                    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
                    next_id(),
                )
            })
            .collect();
        out.push(mk(
            "root-credential-usage",
            LogKind::CloudTrail,
            "Policy:IAMUser/RootCredentialUsage",
            "AccessKey",
            "AKIAROOTKEYEXAMPLE01".into(),
            i,
            recs,
            t,
            t + 2000,
        ));
    }
    if let Some((i, t)) = pick(LogKind::CloudTrail, &mut r) {
        let key = "AKIAATTACKKALI000001";
        let recs: Vec<String> = (0..5)
            .map(|k| {
                ct(
                    account,
                    t + k * 2000,
                    [
                        "ListUsers",
                        "ListRoles",
                        "ListBuckets",
                        "DescribeInstances",
                        "GetCallerIdentity",
                    ][k as usize],
                    [
                        "iam.amazonaws.com",
                        "iam.amazonaws.com",
                        "s3.amazonaws.com",
                        "ec2.amazonaws.com",
                        "sts.amazonaws.com",
                    ][k as usize],
                    &user(account, "intern", key),
                    "null",
                    "192.0.2.66",
                    "aws-cli/1.22.34 Python/3.9.12 Linux/5.16.0-kali7-amd64 botocore/1.24.20",
                    next_id(),
                )
            })
            .collect();
        out.push(mk(
            "kali-linux-api-calls",
            LogKind::CloudTrail,
            "PenTest:IAMUser/KaliLinux",
            "AccessKey",
            key.into(),
            i,
            recs,
            t,
            t + 8000,
        ));
    }
    if let Some((i, t)) = pick(LogKind::VpcFlow, &mut r) {
        let (eni_id, ip, _) = eni(7);
        let recs: Vec<String> = (0..200)
            .map(|k| {
                let s = (t / 1000) + k;
                format!(
                    "2 {account} {eni_id} 203.0.113.50 {ip} {} 22 6 {} {} {s} {} ACCEPT OK",
                    40000 + k,
                    10 + k % 5,
                    2000 + 17 * (k % 9),
                    s + 2
                )
            })
            .collect();
        out.push(mk(
            "ssh-brute-force-inbound",
            LogKind::VpcFlow,
            "UnauthorizedAccess:EC2/SSHBruteForce",
            "NetworkInterface",
            eni_id.clone(),
            i,
            recs,
            t,
            t + 199_000,
        ));
    }
    if let Some((i, t)) = pick(LogKind::VpcFlow, &mut r) {
        let (eni_id, ip, _) = eni(11);
        let recs: Vec<String> = (0..300)
            .map(|k| {
                let s = (t / 1000) + k / 10;
                format!(
                    "2 {account} {eni_id} {ip} 198.51.100.10 {} {} 6 1 44 {s} {} REJECT OK",
                    50000 + k,
                    1 + k * 7,
                    s + 1
                )
            })
            .collect();
        out.push(mk(
            "outbound-port-scan",
            LogKind::VpcFlow,
            "Recon:EC2/Portscan",
            "NetworkInterface",
            eni_id.clone(),
            i,
            recs,
            t,
            t + 29_000,
        ));
    }
    let dns_line = |r: &mut Rng,
                    t: i64,
                    inst: &str,
                    ip: &str,
                    name: &str,
                    qtype: &str,
                    answer: &str|
     -> String {
        let answers = if answer.is_empty() {
            String::new()
        } else {
            format!("{{\"Rdata\":\"{answer}\",\"Type\":\"A\",\"Class\":\"IN\"}}")
        };
        format!(
            "{{\"version\":\"1.100000\",\"account_id\":\"{account}\",\"region\":\"us-east-1\",\"vpc_id\":\"vpc-0attack\",\"query_timestamp\":\"{}Z\",\"query_name\":\"{name}.\",\"query_type\":\"{qtype}\",\"query_class\":\"IN\",\"rcode\":\"NOERROR\",\"answers\":[{answers}],\"srcaddr\":\"{ip}\",\"srcport\":\"{}\",\"transport\":\"UDP\",\"srcids\":{{\"instance\":\"{inst}\"}}}}",
            &format_millis(t)[..19],
            r.range(1024, 65535)
        )
    };
    if let Some((i, t)) = pick(LogKind::Dns, &mut r) {
        let (_, ip, inst) = eni(21);
        let recs = vec![dns_line(
            &mut r,
            t,
            &inst,
            &ip,
            "guarddutyc2activityb.com",
            "A",
            "198.51.100.1",
        )];
        out.push(mk(
            "c2-test-domain",
            LogKind::Dns,
            "Backdoor:EC2/C&CActivity.B!DNS",
            "Instance",
            inst,
            i,
            recs,
            t,
            t,
        ));
    }
    if let Some((i, t)) = pick(LogKind::Dns, &mut r) {
        let (_, ip, inst) = eni(23);
        let recs = vec![dns_line(
            &mut r,
            t,
            &inst,
            &ip,
            "pool.minexmr.com",
            "A",
            "198.51.100.2",
        )];
        out.push(mk(
            "bitcoin-pool-domain",
            LogKind::Dns,
            "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "Instance",
            inst,
            i,
            recs,
            t,
            t,
        ));
    }
    if let Some((i, t)) = pick(LogKind::Dns, &mut r) {
        let (_, ip, inst) = eni(25);
        let recs = vec![dns_line(
            &mut r,
            t,
            &inst,
            &ip,
            "imds.rebind.attacker.example",
            "A",
            "169.254.169.254",
        )];
        out.push(mk(
            "metadata-dns-rebind",
            LogKind::Dns,
            "UnauthorizedAccess:EC2/MetadataDNSRebind",
            "Instance",
            inst,
            i,
            recs,
            t,
            t,
        ));
    }
    if let Some((i, t)) = pick(LogKind::Dns, &mut r) {
        let (_, ip, inst) = eni(27);
        let recs: Vec<String> = (0..300)
            .map(|k| {
                let mut label = String::new();
                r.hex(60, &mut label);
                let mut label2 = String::new();
                r.hex(40, &mut label2);
                dns_line(
                    &mut r,
                    t + k * 500,
                    &inst,
                    &ip,
                    &format!("{label}.{label2}.{k:x}.t.exfil-tunnel.example"),
                    "TXT",
                    "",
                )
            })
            .collect();
        out.push(mk(
            "dns-exfiltration-tunnel",
            LogKind::Dns,
            "Trojan:EC2/DNSDataExfiltration",
            "Instance",
            inst,
            i,
            recs,
            t,
            t + 299 * 500,
        ));
    }
    let covered: Vec<String> = out.iter().map(|x| x.truth.finding_type.clone()).collect();
    for (kind, rule, case) in rule_cases(&covered) {
        let Some((i, t)) = pick(kind, &mut r) else {
            continue;
        };
        if let Some(inj) = rule_scenario(kind, &rule, &case, account, i, t) {
            out.push(inj);
        }
    }
    out
}

/// The first `tests.match` case of every bundled flow and resolver rule that raises a finding
/// type no hand-written scenario covers (and needs no list filled by the user).
fn rule_cases(covered: &[String]) -> Vec<(LogKind, Rule, Vec<serde_json::Value>)> {
    let (set, _) = trailhound_rules::load(&trailhound_rules::LoadOptions {
        bundled: true,
        ..Default::default()
    });
    let mut seen: Vec<String> = covered.to_vec();
    let mut out = Vec::new();
    for rule in set.rules {
        let raises = rule.generate || matches!(rule.body, trailhound_rules::Body::Correlation(_));
        let kind = rule.kind;
        if !matches!(kind, LogKind::VpcFlow | LogKind::Dns) {
            continue;
        }
        if !raises || seen.contains(&rule.finding.finding_type) {
            continue;
        }
        let Some(case) = rule.tests.matching.first() else {
            continue;
        };
        seen.push(rule.finding.finding_type.clone());
        let events = case.events.clone();
        out.push((kind, rule, events));
    }
    out
}

fn field<'v>(ev: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(ev, |v, k| v.get(k))
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A rule's test case as corpus records: flow events become default-format lines, resolver
/// events JSON lines, all moved to start at `t` (keeping their spacing) in `account`.
fn rule_scenario(
    kind: LogKind,
    rule: &Rule,
    case: &[serde_json::Value],
    account: &str,
    object: usize,
    t: i64,
) -> Option<Injection> {
    let time_of = |ev: &serde_json::Value| -> Option<i64> {
        match kind {
            LogKind::VpcFlow => {
                field(ev, "start").map(|v| text(v).parse::<i64>().unwrap_or(0) * 1000)
            }
            _ => field(ev, "query_timestamp")
                .and_then(|v| trailhound_model::time::parse_timestamp(&text(v))),
        }
    };
    let base = case.iter().filter_map(time_of).min().unwrap_or(0);
    let mut recs = Vec::new();
    let (mut t0, mut t1) = (i64::MAX, i64::MIN);
    for ev in case {
        let at = t + time_of(ev).map_or(0, |x| x - base);
        t0 = t0.min(at);
        t1 = t1.max(at);
        match kind {
            LogKind::VpcFlow => {
                let get = |k: &str, d: &str| field(ev, k).map(text).unwrap_or_else(|| d.to_owned());
                let dur = field(ev, "end")
                    .zip(field(ev, "start"))
                    .map(|(e, s)| {
                        text(e).parse::<i64>().unwrap_or(0) - text(s).parse::<i64>().unwrap_or(0)
                    })
                    .unwrap_or(1)
                    .max(0);
                let s = at / 1000;
                recs.push(format!(
                    "2 {account} {} {} {} {} {} {} {} {} {s} {} {} OK",
                    get("interface-id", "eni-0scenario"),
                    get("srcaddr", "10.0.0.99"),
                    get("dstaddr", "10.0.0.98"),
                    get("srcport", "40000"),
                    get("dstport", "443"),
                    get("protocol", "6"),
                    get("packets", "1"),
                    get("bytes", "60"),
                    s + dur,
                    get("action", "ACCEPT"),
                ));
            }
            _ => {
                let mut obj = ev.as_object()?.clone();
                obj.insert("version".into(), "1.100000".into());
                obj.insert("account_id".into(), account.into());
                obj.entry("region").or_insert_with(|| "us-east-1".into());
                obj.entry("vpc_id")
                    .or_insert_with(|| "vpc-0scenario".into());
                obj.insert("query_timestamp".into(), format_millis(at).into());
                obj.entry("query_class").or_insert_with(|| "IN".into());
                obj.entry("rcode").or_insert_with(|| "NOERROR".into());
                obj.entry("answers")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                obj.entry("srcport").or_insert_with(|| "53000".into());
                obj.entry("transport").or_insert_with(|| "UDP".into());
                recs.push(serde_json::Value::Object(obj).to_string());
            }
        }
    }
    // Default-format flow lines carry no instance id: the finding falls back to the interface.
    const V2: &[&str] = &[
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "account-id",
    ];
    let (rtype, rid) = rule
        .finding
        .resources
        .iter()
        .filter(|spec| kind != LogKind::VpcFlow || V2.contains(&spec.field.as_str()))
        .find_map(|spec| {
            case.iter()
                .find_map(|ev| field(ev, &spec.field).map(text))
                .filter(|v| !v.is_empty() && v != "-")
                .map(|v| (spec.kind.clone(), v))
        })
        .unwrap_or_else(|| ("Account".into(), account.to_owned()));
    Some(Injection {
        kind,
        object,
        truth: GroundTruth {
            scenario: format!("rule-{}", rule.id),
            kind,
            finding_type: rule.finding.finding_type.clone(),
            account: account.to_owned(),
            resource_type: rtype,
            resource_id: rid,
            records: recs.len() as u64,
            first_seen: format_millis(t0),
            last_seen: format_millis(t1),
            object: String::new(),
        },
        records: recs,
    })
}
