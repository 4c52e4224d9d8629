//! Closing correlation windows while scanning (`ScanOptions::lateness_ms`, per log kind): reading a corpus in
//! key-time order in small batches and closing the windows between them gives the findings of a
//! scan that keeps every window to the end, with a fraction of the correlation state; records
//! later than the allowed lateness are counted.

use std::sync::Arc;

use trailhound::rules::{LoadOptions, load};
use trailhound::{PerKind, Plan, ScanOptions, ScanSummary};
use trailhound_corpus::{CorpusSpec, generate};

fn scan(
    dir: &std::path::Path,
    lateness_ms: Option<PerKind<i64>>,
    threads: usize,
) -> (String, ScanSummary) {
    scan_with(dir, &[], lateness_ms, threads)
}

fn scan_with(
    dir: &std::path::Path,
    rules: &[std::path::PathBuf],
    lateness_ms: Option<PerKind<i64>>,
    threads: usize,
) -> (String, ScanSummary) {
    let (set, problems) = load(&LoadOptions {
        bundled: true,
        paths: rules.to_vec(),
        ..Default::default()
    });
    assert!(
        problems
            .iter()
            .all(|d| d.level != trailhound::rules::Level::Error),
        "{problems:?}"
    );
    let plan = Arc::new(Plan::new(&set, &[]));
    let opts = ScanOptions {
        threads,
        lateness_ms,
        // About one object a batch: the windows are closed dozens of times.
        batch_bytes: 64 << 10,
        ..ScanOptions::default()
    };
    let (findings, summary) =
        trailhound::detect_paths(&[dir.to_path_buf()], &opts, plan, &|_| {}).unwrap();
    let text = findings
        .iter()
        .map(|f| serde_json::to_string(f).unwrap() + "\n")
        .collect();
    (text, summary)
}

#[test]
fn closing_windows_while_scanning_changes_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CorpusSpec::new(dir.path(), 23);
    spec.size = 24 << 20;
    spec.object_bytes = 512 << 10;
    spec.attacks = true;
    generate(&spec).unwrap();

    // The generator's records lie at or after their object's key time, so ten minutes of
    // lateness lose nothing.
    let lateness = Some(PerKind::uniform(10 * 60_000));
    let (kept, kept_summary) = scan(dir.path(), None, 2);
    let (closed, closed_summary) = scan(dir.path(), lateness, 2);
    let (closed_one, _) = scan(dir.path(), lateness, 1);
    assert!(kept.lines().count() > 20, "{kept}");
    assert_eq!(closed, kept, "closing windows changed the findings");
    assert_eq!(
        closed_one, closed,
        "the findings depend on the thread count"
    );
    assert_eq!(kept_summary.correlation_late_events, 0);
    assert_eq!(closed_summary.correlation_late_events, 0);
    assert!(
        closed_summary.correlation_buckets * 2 < kept_summary.correlation_buckets,
        "closing windows kept {} buckets at most, keeping all {}",
        closed_summary.correlation_buckets,
        kept_summary.correlation_buckets
    );
    // Groups are counted across the sub-buckets that hold them: one group, one count.
    for s in [&kept_summary, &closed_summary] {
        assert!(
            0 < s.correlation_groups && s.correlation_groups < s.correlation_buckets,
            "{} groups in {} buckets",
            s.correlation_groups,
            s.correlation_buckets
        );
    }
    assert!(closed_summary.correlation_groups < kept_summary.correlation_groups);

    // A flow file delivered six hours after its records: they arrive for windows already
    // closed, and are counted.
    let found = trailhound::ingest::discover(&[dir.path().to_path_buf()], &Default::default());
    let flow = found
        .objects
        .iter()
        .map(|o| o.path.clone())
        .find(|p| {
            let p = p.to_string_lossy();
            p.contains("_vpcflowlogs_") && p.contains("T0030Z")
        })
        .expect("a flow object keyed 00:30");
    let late_name = flow.to_string_lossy().replace("T0030Z", "T0630Z");
    std::fs::rename(&flow, &late_name).unwrap();
    let (_, late) = scan(dir.path(), lateness, 2);
    assert!(late.correlation_late_events > 0);
    let (exact, exact_summary) = scan(dir.path(), None, 2);
    assert_eq!(exact_summary.correlation_late_events, 0);

    // Each kind's windows close by that kind's lateness: twelve hours for flow logs takes the
    // late file in, while CloudTrail and Resolver windows still close ten minutes behind.
    let (flow_late_ok, s) = scan(
        dir.path(),
        Some(PerKind {
            cloudtrail: 10 * 60_000,
            vpcflow: 12 * 3_600_000,
            dns: 10 * 60_000,
        }),
        2,
    );
    assert_eq!(s.correlation_late_events, 0);
    assert_eq!(flow_late_ok, exact);
    // … and a short flow lateness still judges that file late whatever the other kinds allow.
    let (_, s) = scan(
        dir.path(),
        Some(PerKind {
            cloudtrail: 12 * 3_600_000,
            vpcflow: 10 * 60_000,
            dns: 12 * 3_600_000,
        }),
        2,
    );
    assert_eq!(s.correlation_late_events, late.correlation_late_events);
}

/// A `first_seen` correlation over the bundled pack's principal history, with a learning period
/// short enough to end inside the test corpus (2 h 20 min of CloudTrail).
fn first_seen_rule(id: &str, timespan: &str, max_values: Option<usize>) -> String {
    let max = max_values.map_or(String::new(), |n| format!("  max-values: {n}\n"));
    format!(
        "title: New network, agent or region for a principal ({id})
id: {id}
correlation:
  type: first_seen
  rules: [th-ct-principal-activity, th-ct-discovery-api]
  group-by: [principal_arn]
  fields: [source_ip_prefix, user_agent_family, awsRegion]
  timespan: {timespan}
{max}level: low
finding:
  type: Discovery:IAMUser/AnomalousBehavior.{id}
  severity: 2.0
  resource:
    - {{type: IAMPrincipal, field: principal_arn}}
"
    )
}

#[test]
fn first_seen_histories_settle_while_scanning_without_changing_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CorpusSpec::new(dir.path(), 23);
    spec.size = 24 << 20;
    spec.object_bytes = 512 << 10;
    spec.kinds = vec![trailhound::LogKind::CloudTrail];
    generate(&spec).unwrap();
    let rules = tempfile::tempdir().unwrap();
    // Learning ends inside the corpus; `narrow` saturates its signals (the generator's
    // principals call from many networks), `wide` keeps every value.
    std::fs::write(
        rules.path().join("wide.yml"),
        first_seen_rule("wide", "30m", None),
    )
    .unwrap();
    std::fs::write(
        rules.path().join("narrow.yml"),
        first_seen_rule("narrow", "30m", Some(8)),
    )
    .unwrap();
    let paths = [rules.path().to_path_buf()];
    let lateness = Some(PerKind::uniform(10 * 60_000));
    let (kept, kept_summary) = scan_with(dir.path(), &paths, None, 2);
    let (closed, closed_summary) = scan_with(dir.path(), &paths, lateness, 2);
    let (closed_one, _) = scan_with(dir.path(), &paths, lateness, 1);
    assert_eq!(kept_summary.correlation_late_events, 0);
    assert_eq!(closed_summary.correlation_late_events, 0);
    let count = |text: &str, ty: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("AnomalousBehavior.{ty}\",")))
            .count()
    };
    let (wide, narrow) = (count(&kept, "wide"), count(&kept, "narrow"));
    assert!(wide > 0, "no finding of the wide rule:\n{kept}");
    // A saturated signal never counts as new: fewer principals stand out.
    assert!(
        narrow < wide,
        "saturation changed nothing: {narrow} vs {wide}"
    );
    // Every principal's network signal saturates under `narrow` (the generator draws callers'
    // addresses at random): reported, and the same whether histories settle early or at the end.
    assert!(kept_summary.first_seen_saturated > 0);
    assert_eq!(
        closed_summary.first_seen_saturated,
        kept_summary.first_seen_saturated
    );
    assert_eq!(closed, kept, "settling histories changed the findings");
    assert_eq!(
        closed_one, closed,
        "the findings depend on the thread count"
    );
}
