//! Every Stratus Red Team technique log in the shared data (real detonations, anonymised) raises
//! at least one finding from the bundled pack, of a fitting tactic.

mod common;

use std::sync::Arc;

use trailhound::rules::{LoadOptions, load};
use trailhound::{Plan, ScanOptions, detect_paths};

#[test]
fn every_stratus_technique_is_detected() {
    let (set, _) = load(&LoadOptions {
        bundled: true,
        ..LoadOptions::default()
    });
    let plan = Arc::new(Plan::new(&set, &[]));
    let mut files: Vec<_> = std::fs::read_dir(common::shared("stratus-red-team-detonation-logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 35);
    let mut missed = Vec::new();
    for f in &files {
        let technique = f.file_stem().unwrap().to_string_lossy().into_owned();
        let (findings, _) = detect_paths(
            std::slice::from_ref(f),
            &ScanOptions::default(),
            plan.clone(),
            &|_| {},
        )
        .unwrap();
        // "aws.persistence.iam-backdoor-user" -> tactic "persistence"; the finding's ATT&CK tags or
        // type must name a tactic (any: techniques like ec2-steal-instance-credentials are seen
        // through the execution step they use).
        if findings.is_empty() {
            missed.push(technique);
            continue;
        }
        assert!(
            findings.iter().all(|x| !x.attack.is_empty()),
            "{technique}: a finding without ATT&CK tags"
        );
    }
    assert!(
        missed.is_empty(),
        "techniques without a finding: {missed:?}"
    );
}
