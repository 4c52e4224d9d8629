//! Every labelled attack the corpus generator injects (hand-written scenarios plus one per flow
//! and resolver detector, built from the rule's own test case) is found with its finding type
//! and resource, and the clean part of the corpus raises no High finding of those kinds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use trailhound::rules::{LoadOptions, load};
use trailhound::{LogKind, Plan, ScanOptions};
use trailhound_corpus::{CorpusSpec, generate};

#[test]
fn injected_scenarios_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CorpusSpec::new(dir.path(), 11);
    spec.size = 24 << 20;
    spec.object_bytes = 1 << 20;
    spec.attacks = true;
    let report = generate(&spec).unwrap();
    let flow_dns: Vec<_> = report
        .ground_truth
        .iter()
        .filter(|t| matches!(t.kind, LogKind::VpcFlow | LogKind::Dns))
        .collect();
    assert!(
        flow_dns.len() >= 20,
        "{} flow/DNS scenarios",
        flow_dns.len()
    );

    let (set, _) = load(&LoadOptions {
        bundled: true,
        ..Default::default()
    });
    let plan = Arc::new(Plan::new(&set, &[]));
    let (findings, _) = trailhound::detect_paths(
        &[dir.path().to_path_buf()],
        &ScanOptions::default(),
        plan,
        &|_| {},
    )
    .unwrap();
    let mut have: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for f in &findings {
        have.entry(f.finding_type.as_str())
            .or_default()
            .insert((f.resource.kind.as_str(), f.resource.id.as_str()));
    }
    let missed: Vec<String> = report
        .ground_truth
        .iter()
        .filter(|t| {
            !have
                .get(t.finding_type.as_str())
                .is_some_and(|s| s.contains(&(t.resource_type.as_str(), t.resource_id.as_str())))
        })
        .map(|t| {
            format!(
                "{} ({} on {} {})",
                t.scenario, t.finding_type, t.resource_type, t.resource_id
            )
        })
        .collect();
    assert!(missed.is_empty(), "missed: {missed:#?}");
}
