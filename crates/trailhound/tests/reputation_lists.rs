//! The threat-intel rules whose lists ship empty (GuardDuty's feeds are not redistributable) fire
//! once a user fills the list, and stay silent on the same event without it.

use std::sync::Arc;

use serde_json::json;
use trailhound::detect::testing::feed;
use trailhound::rules::{LoadOptions, load};
use trailhound::{Detector, LogKind, Plan};

fn types(lists: Vec<(String, Vec<String>)>, kind: LogKind, ev: &serde_json::Value) -> Vec<String> {
    let (set, diags) = load(&LoadOptions {
        bundled: true,
        lists,
        ..Default::default()
    });
    assert!(
        diags
            .iter()
            .all(|d| d.level != trailhound::rules::Level::Error),
        "{diags:?}"
    );
    let mut d = Detector::new(Arc::new(Plan::new(&set, &[])));
    feed(&mut d, kind, ev).unwrap();
    d.finish().into_iter().map(|f| f.finding_type).collect()
}

#[test]
fn list_driven_rules_fire_when_the_list_is_filled() {
    let flow = |dst: &str| {
        json!({"version": 2, "account-id": "111122223333", "interface-id": "eni-1", "srcaddr": "10.0.0.5",
               "dstaddr": dst, "srcport": 50000, "dstport": 443, "protocol": 6, "packets": 10, "bytes": 1000,
               "start": 1704067200, "end": 1704067210, "action": "ACCEPT", "log-status": "OK"})
    };
    let dns = |name: &str, answer: &str| {
        json!({"version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-1",
               "query_name": name, "query_type": "A", "query_class": "IN", "rcode": "NOERROR",
               "answers": [{"Rdata": answer, "Type": "A", "Class": "IN"}], "srcaddr": "10.0.0.5",
               "srcport": "5353", "transport": "UDP", "srcids": {"instance": "i-0abc"}})
    };
    let ct = |name: &str| {
        json!({"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": name,
               "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.66", "recipientAccountId": "111122223333",
               "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accessKeyId": "AKIAEXAMPLE"}})
    };
    let cases: Vec<(&str, &str, LogKind, serde_json::Value, &str)> = vec![
        (
            "c2-ips",
            "198.51.100.9",
            LogKind::VpcFlow,
            flow("198.51.100.9"),
            "Backdoor:EC2/C&CActivity.B",
        ),
        (
            "blackhole-ips",
            "198.51.100.0/24",
            LogKind::VpcFlow,
            flow("198.51.100.9"),
            "Trojan:EC2/BlackholeTraffic",
        ),
        (
            "drop-point-ips",
            "198.51.100.9",
            LogKind::VpcFlow,
            flow("198.51.100.9"),
            "Trojan:EC2/DropPoint",
        ),
        (
            "blackhole-domains",
            "sink.example",
            LogKind::Dns,
            dns("a.sink.example.", "192.0.2.1"),
            "Trojan:EC2/BlackholeTraffic!DNS",
        ),
        (
            "blackhole-ips",
            "192.0.2.1",
            LogKind::Dns,
            dns("x.example.com.", "192.0.2.1"),
            "Trojan:EC2/BlackholeTraffic!DNS",
        ),
        (
            "drop-point-domains",
            "drop.example",
            LogKind::Dns,
            dns("drop.example.", "192.0.2.1"),
            "Trojan:EC2/DropPoint!DNS",
        ),
        (
            "phishing-domains",
            "phish.example",
            LogKind::Dns,
            dns("login.phish.example.", "192.0.2.1"),
            "Trojan:EC2/PhishingDomainRequest!DNS",
        ),
        (
            "driveby-domains",
            "dl.example",
            LogKind::Dns,
            dns("dl.example.", "192.0.2.1"),
            "Trojan:EC2/DriveBySourceTraffic!DNS",
        ),
        (
            "dga-domains",
            "qwrtzp.example",
            LogKind::Dns,
            dns("qwrtzp.example.", "192.0.2.1"),
            "Trojan:EC2/DGADomainRequest.C!DNS",
        ),
        (
            "malicious-domains",
            "bad.example",
            LogKind::Dns,
            dns("bad.example.", "192.0.2.1"),
            "Impact:EC2/MaliciousDomainRequest.Reputation",
        ),
        (
            "sinkhole-ips",
            "192.0.2.1",
            LogKind::Dns,
            dns("x.example.com.", "192.0.2.1"),
            "Impact:EC2/MaliciousDomainRequest.Reputation",
        ),
        (
            "crypto-reputation-domains",
            "coin.example",
            LogKind::Dns,
            dns("coin.example.", "192.0.2.1"),
            "Impact:EC2/BitcoinDomainRequest.Reputation",
        ),
        (
            "malicious-ips",
            "198.51.100.66",
            LogKind::CloudTrail,
            ct("CreateUser"),
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        ),
        (
            "malicious-ips",
            "198.51.100.66",
            LogKind::CloudTrail,
            ct("ListUsers"),
            "Recon:IAMUser/MaliciousIPCaller",
        ),
    ];
    for (list, entry, kind, ev, want) in cases {
        let with = types(vec![(list.into(), vec![entry.into()])], kind, &ev);
        assert!(
            with.iter().any(|t| t == want),
            "{list}={entry}: {want} not in {with:?}"
        );
        let without = types(Vec::new(), kind, &ev);
        assert!(
            !without.iter().any(|t| t == want),
            "{want} fired with an empty {list}"
        );
    }
}
