//! The shared vocabulary of trailhound: what a record of each log kind looks like, how its fields
//! are read, and how records reach whoever consumes them.
//!
//! Every other crate builds on this one. Records are borrowed views over the decompressed bytes
//! (nothing is copied per record on the hot path); the core fields every detection and finding
//! needs are typed, and any other field is read by its name in the log (a dotted JSON path for
//! CloudTrail and resolver logs, a header name for flow logs).
//!
//! ```
//! use trailhound_model::{CloudTrailRecord, DnsRecord, FlowRecord, LogKind, RecordSink};
//!
//! /// Counts API calls by name, the way a detection engine consumes records.
//! #[derive(Default)]
//! struct StopLoggingCounter(u64);
//! impl RecordSink for StopLoggingCounter {
//!     fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
//!         if r.event_name == "StopLogging" { self.0 += 1 }
//!     }
//!     fn flow(&mut self, _: &FlowRecord<'_>) {}
//!     fn dns(&mut self, _: &DnsRecord<'_>) {}
//! }
//! let rec = CloudTrailRecord::parse(
//!     r#"{"eventTime":"2024-01-01T00:00:00Z","eventName":"StopLogging"}"#).unwrap();
//! let mut c = StopLoggingCounter::default();
//! c.cloudtrail(&rec);
//! assert_eq!(c.0, 1);
//! assert_eq!(LogKind::CloudTrail.as_str(), "cloudtrail");
//! ```

pub mod cloudtrail;
pub mod dns;
pub mod flow;
pub mod json;
pub mod members;
pub mod time;

pub use cloudtrail::{CloudTrailRecord, Identity};
pub use dns::DnsRecord;
pub use flow::{FlowAction, FlowField, FlowRecord, FlowSchema, LogStatus};
pub use members::{Fields, Members};

/// The three log sources trailhound reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// AWS CloudTrail management (and data) events.
    CloudTrail,
    /// Amazon VPC Flow Logs.
    VpcFlow,
    /// Amazon Route 53 Resolver (VPC DNS) query logs.
    Dns,
}

impl LogKind {
    /// All kinds, in summary order.
    pub const ALL: [LogKind; 3] = [LogKind::CloudTrail, LogKind::VpcFlow, LogKind::Dns];

    /// The kind's name in summaries and rule files: `cloudtrail`, `vpcflow`, `dns`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::CloudTrail => "cloudtrail",
            LogKind::VpcFlow => "vpcflow",
            LogKind::Dns => "dns",
        }
    }
}

impl std::fmt::Display for LogKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per log kind: the lateness a scan allows each source, the time up to which each
/// source's correlation windows are closed.
///
/// ```
/// use trailhound_model::{LogKind, PerKind};
/// let lateness = PerKind { cloudtrail: 60, vpcflow: 15, dns: 60 };
/// assert_eq!(lateness.get(LogKind::VpcFlow), 15);
/// assert_eq!(PerKind::uniform(7).map(|v| v * 2).get(LogKind::Dns), 14);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerKind<T> {
    /// For CloudTrail.
    pub cloudtrail: T,
    /// For VPC flow logs.
    pub vpcflow: T,
    /// For Route 53 Resolver query logs.
    pub dns: T,
}

impl<T: Copy> PerKind<T> {
    /// The same value for every kind.
    pub fn uniform(v: T) -> Self {
        PerKind {
            cloudtrail: v,
            vpcflow: v,
            dns: v,
        }
    }

    /// The value for `kind`.
    pub fn get(&self, kind: LogKind) -> T {
        match kind {
            LogKind::CloudTrail => self.cloudtrail,
            LogKind::VpcFlow => self.vpcflow,
            LogKind::Dns => self.dns,
        }
    }

    /// The value for `kind`, to change.
    pub fn get_mut(&mut self, kind: LogKind) -> &mut T {
        match kind {
            LogKind::CloudTrail => &mut self.cloudtrail,
            LogKind::VpcFlow => &mut self.vpcflow,
            LogKind::Dns => &mut self.dns,
        }
    }

    /// Each value through `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerKind<U> {
        PerKind {
            cloudtrail: f(self.cloudtrail),
            vpcflow: f(self.vpcflow),
            dns: f(self.dns),
        }
    }

    /// `f` of this and `other`'s values, kind by kind.
    pub fn zip_with<U: Copy, V>(
        self,
        other: PerKind<U>,
        mut f: impl FnMut(T, U) -> V,
    ) -> PerKind<V> {
        PerKind {
            cloudtrail: f(self.cloudtrail, other.cloudtrail),
            vpcflow: f(self.vpcflow, other.vpcflow),
            dns: f(self.dns, other.dns),
        }
    }
}

/// Why one record could not be read. Each variant has a stable [`RecordError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record is not valid JSON, or a core field has the wrong JSON type.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field every record of its kind has is missing.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A timestamp that is not RFC 3339.
    #[error("unreadable timestamp {0:?}")]
    BadTime(String),
    /// The record or file does not have the expected shape.
    #[error("{0}")]
    Shape(&'static str),
    /// A flow-log line with a different number of fields than its header.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Columns in the header.
        expected: usize,
        /// Columns on the line.
        found: usize,
    },
    /// A field whose value is not valid for it.
    #[error("bad value {value:?} for `{field}`")]
    BadValue {
        /// The field's name in the log.
        field: &'static str,
        /// The offending value (at most 64 characters of it).
        value: String,
    },
}

impl RecordError {
    /// A stable, machine-readable reason code (used as a key in the run summary).
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Json(_) => "invalid-json",
            RecordError::Missing(_) => "missing-field",
            RecordError::BadTime(_) => "bad-timestamp",
            RecordError::Shape(_) => "bad-shape",
            RecordError::FieldCount { .. } => "field-count",
            RecordError::BadValue { .. } => "bad-value",
        }
    }
}

/// Whoever consumes parsed records: the detection engine, a counter, a test.
///
/// The ingest pipeline creates one sink per unit of work, calls it for every record that parsed
/// and is inside the requested time range, and merges sinks in input order afterwards, so a sink
/// never needs locking.
pub trait RecordSink {
    /// A CloudTrail event.
    fn cloudtrail(&mut self, record: &CloudTrailRecord<'_>);
    /// A VPC flow record (never a NODATA/SKIPDATA placeholder).
    fn flow(&mut self, record: &FlowRecord<'_>);
    /// A Route 53 Resolver query.
    fn dns(&mut self, record: &DnsRecord<'_>);
}

/// A sink that ignores everything: parse-only scans.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl RecordSink for NullSink {
    fn cloudtrail(&mut self, _: &CloudTrailRecord<'_>) {}
    fn flow(&mut self, _: &FlowRecord<'_>) {}
    fn dns(&mut self, _: &DnsRecord<'_>) {}
}
