//! trailhound: GuardDuty-style detections over AWS CloudTrail, VPC Flow Logs and Route 53 Resolver
//! query logs, exactly as AWS exports them to S3, on your own machine.
//!
//! This is the crate Rust programs import. It re-exports the record model
//! ([`model`]) and the reading pipeline ([`ingest`]), and offers [`scan_paths`], which runs
//! discovery and the parallel scan in one call and returns the run's summary.
//!
//! ```
//! use trailhound::{scan_paths, ScanOptions};
//! use trailhound::model::{CloudTrailRecord, DnsRecord, FlowRecord, RecordSink};
//!
//! /// Collects the API names seen, the way a detection engine would consume records.
//! #[derive(Default)]
//! struct Names(Vec<String>);
//! impl RecordSink for Names {
//!     fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) { self.0.push(r.event_name.to_string()) }
//!     fn flow(&mut self, _: &FlowRecord<'_>) {}
//!     fn dns(&mut self, _: &DnsRecord<'_>) {}
//! }
//!
//! let dir = std::env::temp_dir().join("trailhound-doc-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("trail.json"),
//!     r#"{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventName":"StopLogging"}]}"#).unwrap();
//! let (names, summary) = scan_paths(&[dir], &ScanOptions::default(), Names::default,
//!     |mut a, b| { a.0.extend(b.0); a }, &|_| {}).unwrap();
//! assert_eq!(names.0, ["StopLogging"]);
//! assert_eq!(summary.totals.records_parsed, 1);
//! ```

use std::path::PathBuf;
use std::time::Instant;

pub use trailhound_detect as detect;
pub use trailhound_ingest as ingest;
pub use trailhound_model as model;
pub use trailhound_rules as rules;

pub use trailhound_detect::{Detector, Finding, LearningPeriods, Plan};
pub use trailhound_ingest::{
    Counters, DEFAULT_LATENESS_MS, ErrorEntry, ScanError, ScanOptions, ScanSummary, TimeRange,
};
pub use trailhound_model::{LogKind, PerKind, RecordSink};

/// Discovers every object under `paths` and scans them in parallel.
///
/// `make` builds a sink per unit of work and `merge` folds two sinks (left comes first in input
/// order); the returned summary accounts for every object and record, including those skipped
/// at discovery, with `elapsed_seconds` set.
pub fn scan_paths<S, Mk, Mg>(
    paths: &[PathBuf],
    opts: &ScanOptions,
    make: Mk,
    merge: Mg,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(S, ScanSummary), ScanError>
where
    S: RecordSink + Send,
    Mk: Fn() -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
{
    let started = Instant::now();
    let found = ingest::discover(paths, &opts.range);
    scan_discovered(found, opts, make, merge, progress, started)
}

/// Scans what [`ingest::discover`] found; the summary adds discovery's skips and failures, and
/// `elapsed_seconds` counts from `started`.
pub fn scan_discovered<S, Mk, Mg>(
    found: ingest::Discovered,
    opts: &ScanOptions,
    make: Mk,
    merge: Mg,
    progress: &(dyn Fn(u64) + Sync),
    started: Instant,
) -> Result<(S, ScanSummary), ScanError>
where
    S: RecordSink + Send,
    Mk: Fn() -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
{
    let (sink, scanned) = ingest::scan(&found.objects, opts, make, merge, progress)?;
    let mut summary = found.summary;
    summary.merge(scanned);
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok((sink, summary))
}

/// Scans `paths` with a compiled plan and returns the findings (sorted) and the summary (with
/// `findings` set).
///
/// ```
/// use std::sync::Arc;
/// use trailhound::{detect_paths, Plan, ScanOptions};
/// use trailhound::rules::{load, LoadOptions};
/// let (set, _) = load(&LoadOptions { bundled: true, ..Default::default() });
/// let plan = Arc::new(Plan::new(&set, &[]));
/// let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/s3");
/// let (findings, summary) = detect_paths(&[root], &ScanOptions::default(), plan, &|_| {}).unwrap();
/// assert_eq!(summary.findings, findings.len() as u64);
/// ```
pub fn detect_paths(
    paths: &[PathBuf],
    opts: &ScanOptions,
    plan: std::sync::Arc<Plan>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<Finding>, ScanSummary), ScanError> {
    let started = Instant::now();
    let found = ingest::discover(paths, &opts.range);
    detect_discovered(found, opts, plan, progress, started)
}

/// Objects per batch of a time-ordered scan, at most (see [`ScanOptions::lateness_ms`]).
const BATCH_OBJECTS: usize = 256;

/// Scans what [`ingest::discover`] found with a compiled plan: the findings (sorted) and the
/// summary, with `findings` and the correlation state's size set and `elapsed_seconds` counted
/// from `started`.
///
/// With [`ScanOptions::lateness_ms`] set, objects are read in key-time order (objects whose key
/// tells no time first, in path order) in batches of about [`ScanOptions::batch_bytes`]; after each batch the
/// correlation windows that records of the objects still to read cannot reach (given the
/// lateness) are closed. The batches depend on the objects only, so the findings do not depend
/// on the thread count.
pub fn detect_discovered(
    found: ingest::Discovered,
    opts: &ScanOptions,
    plan: std::sync::Arc<Plan>,
    progress: &(dyn Fn(u64) + Sync),
    started: Instant,
) -> Result<(Vec<Finding>, ScanSummary), ScanError> {
    let ingest::Discovered {
        mut objects,
        summary: mut found_summary,
    } = found;
    let mut ends = Vec::new();
    if opts.lateness_ms.is_some() {
        // Stable: objects of the same time stay in path order.
        objects.sort_by_key(|o| o.key_time().unwrap_or(i64::MIN));
        let (mut n, mut bytes) = (0, 0);
        for (i, o) in objects.iter().enumerate() {
            n += 1;
            bytes += o.size;
            if n >= BATCH_OBJECTS || bytes >= opts.batch_bytes {
                ends.push(i + 1);
                (n, bytes) = (0, 0);
            }
        }
    }
    if ends.last() != Some(&objects.len()) {
        ends.push(objects.len());
    }
    // After batch `i`, the windows of each kind before `horizons[i]` are closed: its records in
    // the objects still to read lie no earlier than the key time of the next object that can
    // hold them (its key names that kind or none) less the kind's lateness (objects are in
    // key-time order; with none left, or one whose key tells no time, nothing is closed).
    // `closed[i]` is what the sinks of batch `i` know to be closed already (computed up front:
    // batch `i` is read while batch `i - 1` is being closed).
    // `next[i]`: per kind, the key time of the first object from `i` on that can hold it
    // (`i64::MIN` where that object tells no time; `None` where there is none).
    let mut next = vec![PerKind::<Option<i64>>::default(); objects.len() + 1];
    for (i, o) in objects.iter().enumerate().rev() {
        let mut n = next[i + 1];
        for kind in LogKind::ALL {
            if o.key_kind().is_none_or(|k| k == kind) {
                *n.get_mut(kind) = Some(o.key_time().unwrap_or(i64::MIN));
            }
        }
        next[i] = n;
    }
    let horizons: Vec<Option<PerKind<i64>>> = ends
        .iter()
        .map(|&e| {
            let lateness = opts.lateness_ms?;
            let next = next.get(e).copied().unwrap_or_default();
            Some(next.zip_with(lateness, |t, l| t.map_or(i64::MIN, |t| t.saturating_sub(l))))
        })
        .collect();
    let closed: Vec<PerKind<i64>> = std::iter::once(PerKind::uniform(i64::MIN))
        .chain(horizons.iter().scan(PerKind::uniform(i64::MIN), |c, h| {
            if let Some(h) = h {
                *c = c.zip_with(*h, i64::max);
            }
            Some(*c)
        }))
        .collect();
    let (mut peak_groups, mut peak_buckets) = (0, 0);
    // The `first_seen` groups whose start the windows closed so far have fixed, for the batches
    // read next (which batches see which of them depends on timing, not the findings).
    let learning = std::sync::Mutex::new(std::sync::Arc::new(LearningPeriods::default()));
    let (det, scanned) = ingest::scan_batches(
        &objects,
        &ends,
        opts,
        |i| {
            let l = learning
                .lock()
                .map(|l| std::sync::Arc::clone(&l))
                .unwrap_or_default();
            Detector::new(plan.clone())
                .closed_before(closed.get(i).copied().unwrap_or(PerKind::uniform(i64::MIN)))
                .with_learning_periods(l)
        },
        Detector::merge,
        progress,
        |i, det: &mut Detector| {
            peak_buckets = peak_buckets.max(det.correlation_buckets());
            if opts.count_correlation_groups {
                peak_groups = peak_groups.max(det.correlation_groups());
            }
            if let Some(Some(horizon)) = horizons.get(i) {
                det.close_windows(*horizon);
                if let Ok(mut l) = learning.lock() {
                    *l = std::sync::Arc::new(det.learning_periods());
                }
            }
        },
    )?;
    found_summary.merge(scanned);
    let mut summary = found_summary;
    summary.correlation_groups = peak_groups;
    summary.correlation_buckets = peak_buckets;
    summary.correlation_late_events = det.late_events();
    let mut det = det;
    det.settle_histories();
    summary.first_seen_saturated = det.saturated_signals();
    let findings = det.finish();
    summary.findings = findings.len() as u64;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok((findings, summary))
}

/// Total stored bytes of what `paths` would scan (for progress bars).
pub fn total_size(objects: &[ingest::Object]) -> u64 {
    objects.iter().map(|o| o.size).sum()
}
