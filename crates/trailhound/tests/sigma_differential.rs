//! Differential test against an independent Sigma implementation: pySigma with its DuckDB
//! backend converts every SigmaHQ AWS CloudTrail rule to SQL, which runs over the public
//! CloudTrail samples; the set of matching eventIDs per rule must equal trailhound's, except for
//! the differences listed (and explained, with the spec's words) in docs/rules.md.
//!
//! Needs the Python oracle environment that `.ci/test` creates (`.venv` with pysigma,
//! pysigma-backend-duckdb and duckdb), or `TRAILHOUND_PYTHON` pointing at such an interpreter.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use trailhound::model::{CloudTrailRecord, DnsRecord, FlowRecord, RecordSink};
use trailhound::rules::{LoadOptions, load};
use trailhound::{Plan, ScanOptions, scan_paths};

/// (rule id, eventID, which side matched) pairs known to differ, each explained in docs/rules.md.
const EXPLAINED: &[(&str, &str, &str)] = &[
    // "AWS Successful Console Login Without MFA" compares `additionalEventData.MFAUsed: 'NO'` with
    // the logged "No". The Sigma specification (Detection > General) says "All values are treated
    // as case-insensitive strings", so trailhound matches; pySigma's DuckDB backend emits a
    // case-sensitive `=` and does not. trailhound follows the specification.
    (
        "77caf516-34e5-4df9-b4db-20744fea0a60",
        "70e5932e-9022-4b38-837e-ca10dad94eb7",
        "trailhound",
    ),
    (
        "77caf516-34e5-4df9-b4db-20744fea0a60",
        "865d9377-9c6b-4fd7-8aad-725e95f6a140",
        "trailhound",
    ),
];

#[derive(Clone)]
struct Matches {
    plan: Arc<Plan>,
    found: BTreeMap<String, BTreeSet<String>>,
}

impl RecordSink for Matches {
    fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
        for i in trailhound::detect::engine::matching_rules(&self.plan, r) {
            let id = self.plan.rules[i as usize].rule.id.clone();
            if let Some(e) = &r.event_id {
                self.found.entry(id).or_default().insert(e.to_string());
            }
        }
    }
    fn flow(&mut self, _: &FlowRecord<'_>) {}
    fn dns(&mut self, _: &DnsRecord<'_>) {}
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRAILHOUND_PYTHON") {
        return p.into();
    }
    let venv = common::repo().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no oracle interpreter: run .ci/test (it creates .venv with pysigma, pysigma-backend-duckdb, duckdb) or set TRAILHOUND_PYTHON"
    );
    venv
}

#[test]
fn sigmahq_rules_agree_with_pysigma_duckdb() {
    let rules_dir = common::shared("sigmahq-aws-cloudtrail");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "invictus-ir-aws_dataset/CloudTrail",
        "stratus-red-team-detonation-logs",
        "otrf-security-datasets",
    ] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(common::shared(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        v.sort();
        files.extend(v);
    }
    files.push(common::shared("cado-cloudgrep-tests/cloudtrail.json"));
    files.push(common::shared(
        "cado-cloudgrep-tests/cloudtrail_singleline.json",
    ));

    let out = tempfile_path();
    let status = std::process::Command::new(python())
        .arg(common::repo().join("crates/trailhound/tests/oracle/sigma_duckdb.py"))
        .arg(&rules_dir)
        .arg(&out)
        .args(&files)
        .status()
        .unwrap();
    assert!(status.success(), "the oracle failed");
    let oracle: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        oracle["unconverted"].as_object().unwrap().len(),
        0,
        "{}",
        oracle["unconverted"]
    );
    assert_eq!(
        oracle["errors"].as_object().unwrap().len(),
        0,
        "{}",
        oracle["errors"]
    );

    let (set, _) = load(&LoadOptions {
        paths: vec![rules_dir],
        ..LoadOptions::default()
    });
    let plan = Arc::new(Plan::new(&set, &[]));
    let (m, summary) = scan_paths(
        &files,
        &ScanOptions::default(),
        || Matches {
            plan: plan.clone(),
            found: BTreeMap::new(),
        },
        |mut a, b| {
            for (k, v) in b.found {
                a.found.entry(k).or_default().extend(v);
            }
            a
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(summary.totals.records_parsed, 2900 + 310 + 103 + 2);

    let mut diffs: Vec<(String, String, &str)> = Vec::new();
    let mut agreed = 0usize;
    for r in &set.rules {
        let theirs: BTreeSet<String> = oracle["matches"][&r.id]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let ours = m.found.get(&r.id).cloned().unwrap_or_default();
        agreed += ours.intersection(&theirs).count();
        for e in ours.difference(&theirs) {
            diffs.push((r.id.clone(), e.clone(), "trailhound"));
        }
        for e in theirs.difference(&ours) {
            diffs.push((r.id.clone(), e.clone(), "pysigma"));
        }
    }
    let unexplained: Vec<_> = diffs
        .iter()
        .filter(|(r, e, side)| {
            !EXPLAINED
                .iter()
                .any(|(er, ee, es)| er == r && ee == e && es == side)
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences (agreed on {agreed}):\n{unexplained:#?}",
        unexplained.len()
    );
    assert!(
        agreed >= 150,
        "only {agreed} agreeing matches: the comparison is not exercising the rules"
    );
}

fn tempfile_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trailhound-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("oracle.json")
}
