//! The run's accounting: every object and every record ends up counted exactly once.
//!
//! An object is scanned, skipped on purpose (with a reason) or failed (with a reason and where it
//! broke). A record that was read is parsed (and handed to the sink), skipped on purpose
//! (NODATA/SKIPDATA, out of the time range) or rejected (with a reason), so
//! `records_read == records_parsed + records_skipped + records_rejected` always holds.

use std::collections::BTreeMap;

use serde::Serialize;
use trailhound_model::LogKind;

/// Counters for one log kind or for the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Objects read to the end.
    pub objects_scanned: u64,
    /// Objects skipped on purpose (digests, Insights, unknown kinds, outside the time range).
    pub objects_skipped: u64,
    /// Objects that could not be read (corrupt, truncated, unreadable, wrong header…).
    pub objects_failed: u64,
    /// Records met.
    pub records_read: u64,
    /// Records parsed and handed on.
    pub records_parsed: u64,
    /// Records skipped on purpose.
    pub records_skipped: u64,
    /// Records that could not be parsed.
    pub records_rejected: u64,
    /// Bytes as stored.
    pub bytes_compressed: u64,
    /// Bytes after decompression.
    pub bytes_uncompressed: u64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.objects_scanned += o.objects_scanned;
        self.objects_skipped += o.objects_skipped;
        self.objects_failed += o.objects_failed;
        self.records_read += o.records_read;
        self.records_parsed += o.records_parsed;
        self.records_skipped += o.records_skipped;
        self.records_rejected += o.records_rejected;
        self.bytes_compressed += o.bytes_compressed;
        self.bytes_uncompressed += o.bytes_uncompressed;
    }
}

/// One problem, with the file and where in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    /// The object's path as given or found.
    pub path: String,
    /// What went wrong, in words, with the position where there is one.
    pub reason: String,
    /// A stable code (`corrupt-gzip`, `invalid-json`, `field-count`, …).
    pub code: String,
    /// `object` when the object failed, `record` when one record was rejected.
    pub scope: &'static str,
    /// The log kind, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<LogKind>,
    /// 1-based line in the decompressed object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based record (or Parquet row) number in the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// Byte offset (in the decompressed object, or the compressed one for gzip errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte: Option<u64>,
}

/// The summary of a scan, as `--summary-json` writes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanSummary {
    /// Totals over all kinds (flattened into the top level of the JSON).
    #[serde(flatten)]
    pub totals: Counters,
    /// Findings produced (filled in by the detection stage).
    pub findings: u64,
    /// The most correlation groups held at once (filled in by the detection stage; 0 unless
    /// [`crate::ScanOptions::count_correlation_groups`]).
    pub correlation_groups: u64,
    /// The most correlation time buckets held at once: the correlation state's size.
    pub correlation_buckets: u64,
    /// Correlation events that arrived after their window had been closed (records later than
    /// the allowed lateness behind their object's key time; see `ScanOptions::lateness_ms`).
    pub correlation_late_events: u64,
    /// `first_seen` (group, signal) pairs that saturated: more than the rule's `max-values`
    /// values in the group's learning period, so new values of that signal are not reported.
    pub first_seen_saturated: u64,
    /// Wall-clock seconds (filled in by the caller).
    pub elapsed_seconds: f64,
    /// The same counters per log kind: `cloudtrail`, `vpcflow`, `dns`.
    pub by_kind: BTreeMap<LogKind, Counters>,
    /// Skipped objects by reason.
    pub objects_skipped_by_reason: BTreeMap<String, u64>,
    /// Skipped records by reason.
    pub records_skipped_by_reason: BTreeMap<String, u64>,
    /// Rejected records by reason.
    pub records_rejected_by_reason: BTreeMap<String, u64>,
    /// Failed objects and rejected records (record entries capped per object; see
    /// `errors_omitted`).
    pub errors: Vec<ErrorEntry>,
    /// Record-level errors counted but not listed.
    pub errors_omitted: u64,
}

/// At most this many rejected-record entries are listed per object.
pub const MAX_RECORD_ERRORS_PER_OBJECT: usize = 10;
/// At most this many entries are listed in a run.
pub const MAX_ERRORS: usize = 1000;

impl ScanSummary {
    /// Every kind appears in `by_kind`, even with zero counts, so the JSON shape is fixed.
    pub fn new() -> Self {
        let mut s = ScanSummary::default();
        for k in LogKind::ALL {
            s.by_kind.insert(k, Counters::default());
        }
        s
    }

    /// Adds `c` to the totals and, when the kind is known, to that kind.
    pub fn count(&mut self, kind: Option<LogKind>, c: &Counters) {
        self.totals.add(c);
        if let Some(k) = kind {
            self.by_kind.entry(k).or_default().add(c);
        }
    }

    /// Records an object skipped on purpose.
    pub fn skip_object(&mut self, kind: Option<LogKind>, reason: &str) {
        self.count(
            kind,
            &Counters {
                objects_skipped: 1,
                ..Counters::default()
            },
        );
        *self
            .objects_skipped_by_reason
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Adds an error entry, honouring the cap.
    pub fn push_error(&mut self, e: ErrorEntry) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        } else {
            self.errors_omitted += 1;
        }
    }

    /// Folds `other` (which comes later in input order) into `self`.
    pub fn merge(&mut self, other: ScanSummary) {
        self.totals.add(&other.totals);
        for (k, c) in &other.by_kind {
            self.by_kind.entry(*k).or_default().add(c);
        }
        for (m, o) in [
            (
                &mut self.objects_skipped_by_reason,
                other.objects_skipped_by_reason,
            ),
            (
                &mut self.records_skipped_by_reason,
                other.records_skipped_by_reason,
            ),
            (
                &mut self.records_rejected_by_reason,
                other.records_rejected_by_reason,
            ),
        ] {
            for (r, n) in o {
                *m.entry(r).or_default() += n;
            }
        }
        self.errors_omitted += other.errors_omitted;
        for e in other.errors {
            self.push_error(e);
        }
        self.findings += other.findings;
        self.correlation_groups += other.correlation_groups;
        self.correlation_buckets += other.correlation_buckets;
        self.correlation_late_events += other.correlation_late_events;
        self.first_seen_saturated += other.first_seen_saturated;
    }

    /// True when any object failed or any record was rejected: the run's exit code is 2.
    pub fn has_input_errors(&self) -> bool {
        self.totals.objects_failed > 0 || self.totals.records_rejected > 0
    }
}
