//! Every unmodified SigmaHQ AWS CloudTrail rule in the shared data loads, with no error.

use trailhound_rules::{Body, Level, LoadOptions, load};

#[test]
fn every_sigmahq_cloudtrail_rule_loads() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/public/sigmahq-aws-cloudtrail");
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yml")
        })
        .count();
    let (set, diags) = load(&LoadOptions {
        paths: vec![dir],
        ..LoadOptions::default()
    });
    let errors: Vec<_> = diags.iter().filter(|d| d.level == Level::Error).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(set.rules.len(), files);
    assert!(
        set.rules
            .iter()
            .all(|r| r.kind == trailhound_model::LogKind::CloudTrail
                && matches!(r.body, Body::Detection(_)))
    );
    // Sigma UUIDs are the rule ids; levels give the severity.
    let r = set
        .rules
        .iter()
        .find(|r| r.id == "4db60cc0-36fb-42b7-9b58-a5b53019fb74")
        .unwrap();
    assert_eq!(r.finding.severity, 5.0);
}
