//! GuardDuty's variable severities are written as rules of different severity raising the same
//! finding type; when several fire for one resource the finding takes the most severe, whatever
//! order the events arrive in.

use std::sync::Arc;

use serde_json::json;
use trailhound::detect::testing::feed;
use trailhound::rules::{LoadOptions, load};
use trailhound::{Detector, LogKind, Plan};

fn probe(port: u16) -> serde_json::Value {
    json!({"version": 2, "account-id": "111122223333", "interface-id": "eni-1", "srcaddr": "129.82.138.12",
           "dstaddr": "10.0.0.5", "srcport": 40000, "dstport": port, "protocol": 6, "packets": 2, "bytes": 120,
           "start": 1704067200, "end": 1704067201, "action": "ACCEPT", "log-status": "OK"})
}

fn severities(ports: &[u16]) -> Vec<(String, f64)> {
    let (set, _) = load(&LoadOptions {
        bundled: true,
        ..Default::default()
    });
    let mut d = Detector::new(Arc::new(Plan::new(&set, &[])));
    for &p in ports {
        feed(&mut d, LogKind::VpcFlow, &probe(p)).unwrap();
    }
    d.finish()
        .into_iter()
        .filter(|f| f.finding_type == "Recon:EC2/PortProbeUnprotectedPort")
        .map(|f| (f.rule_id.to_string(), f.severity))
        .collect()
}

#[test]
fn the_most_severe_variant_wins_in_any_order() {
    assert_eq!(severities(&[22]), vec![("th-flow-0004".to_owned(), 2.0)]);
    assert_eq!(severities(&[9200]), vec![("th-flow-0028".to_owned(), 8.0)]);
    assert_eq!(
        severities(&[22, 9200]),
        vec![("th-flow-0028".to_owned(), 8.0)]
    );
    assert_eq!(
        severities(&[9200, 22]),
        vec![("th-flow-0028".to_owned(), 8.0)]
    );
}
