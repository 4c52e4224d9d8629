//! `docs/findings.md` is generated from the rule files and GuardDuty's catalog
//! (`../shared/reference/guardduty-findings.json`); this test fails when it is stale.
//! Regenerate with `UPDATE_FINDINGS_DOC=1 cargo test -p trailhound-rules --test catalog`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use trailhound_rules::{Body, LoadOptions, load};

fn render() -> String {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("../shared/reference/guardduty-findings.json")).unwrap(),
    )
    .unwrap();
    let (set, diags) = load(&LoadOptions {
        bundled: true,
        ..LoadOptions::default()
    });
    assert!(
        diags
            .iter()
            .all(|d| d.level != trailhound_rules::Level::Error),
        "{diags:?}"
    );
    let mut by_type: BTreeMap<&str, Vec<&trailhound_rules::Rule>> = BTreeMap::new();
    for r in &set.rules {
        if r.generate || matches!(r.body, Body::Correlation(_)) {
            by_type
                .entry(r.finding.finding_type.as_str())
                .or_default()
                .push(r);
        }
    }
    let entries = catalog.as_array().unwrap();
    let covered = entries
        .iter()
        .filter(|e| by_type.contains_key(e["finding_type"].as_str().unwrap()))
        .count();
    let mut o = String::new();
    let _ = writeln!(o, "# Findings\n");
    let _ = writeln!(
        o,
        "Generated from `rules/` and `../shared/reference/guardduty-findings.json` by"
    );
    let _ = writeln!(
        o,
        "`crates/trailhound-rules/tests/catalog.rs` (`UPDATE_FINDINGS_DOC=1 cargo test -p trailhound-rules --test catalog`).\n"
    );
    let _ = writeln!(
        o,
        "GuardDuty catalog coverage: **{covered} of {}** finding types have a bundled rule with tests.\n",
        entries.len()
    );
    let _ = writeln!(o, "## GuardDuty's foundational finding types\n");
    let _ = writeln!(
        o,
        "| finding type | source | GuardDuty severity | trailhound rule | severity | tests (match / no match) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for e in entries {
        let t = e["finding_type"].as_str().unwrap();
        let src = e["data_source"].as_str().unwrap_or("");
        let sev = e["default_severity"].as_str().unwrap_or("");
        match by_type.get(t) {
            Some(rules) => {
                for r in rules {
                    let _ = writeln!(
                        o,
                        "| `{t}` | {src} | {sev} | [{}]({}) | {:.1} {} | {} / {} |",
                        r.id,
                        r.path
                            .trim_start_matches("rules/")
                            .replace(' ', "%20")
                            .split('/')
                            .fold(String::from("../rules"), |a, p| a + "/" + p),
                        r.finding.severity,
                        trailhound_rules::severity_label(r.finding.severity),
                        r.tests.matching.len(),
                        r.tests.not_matching.len()
                    );
                }
            }
            None => {
                let _ = writeln!(o, "| `{t}` | {src} | {sev} | not yet | | |");
            }
        }
    }
    let catalog_types: Vec<&str> = entries
        .iter()
        .map(|e| e["finding_type"].as_str().unwrap())
        .collect();
    let _ = writeln!(o, "\n## Beyond GuardDuty's catalog\n");
    let _ = writeln!(
        o,
        "| finding type | trailhound rule | severity | tests (match / no match) |"
    );
    let _ = writeln!(o, "|---|---|---|---|");
    for (t, rules) in &by_type {
        if catalog_types.contains(t) {
            continue;
        }
        for r in rules {
            let _ = writeln!(
                o,
                "| `{t}` | {} | {:.1} | {} / {} |",
                r.id,
                r.finding.severity,
                r.tests.matching.len(),
                r.tests.not_matching.len()
            );
        }
    }
    // The measured quality figures (docs/quality.md, kept by hand from the quality tests' output).
    let quality = std::fs::read_to_string(root.join("docs/quality.md")).unwrap();
    let _ = writeln!(
        o,
        "\n## Detection quality\n\nFrom [quality.md](quality.md):\n\n{}",
        quality
            .trim_start_matches("# Detection quality (measured)")
            .trim()
    );
    o
}

#[test]
fn findings_doc_is_up_to_date() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/findings.md");
    let want = render();
    if std::env::var_os("UPDATE_FINDINGS_DOC").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/findings.md is stale: run UPDATE_FINDINGS_DOC=1 cargo test -p trailhound-rules --test catalog"
    );
}
