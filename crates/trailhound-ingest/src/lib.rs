//! Reading AWS log exports: discovery, decompression, parsing, and the parallel pipeline.
//!
//! This crate turns paths into records. [`discover`] finds objects and classifies them by their S3
//! key; [`scan`] reads them in parallel (libdeflate for gzip, memory maps for plain files, Parquet
//! for flow logs delivered that way), parses each record into a borrowed view from
//! `trailhound-model`, hands it to a [`RecordSink`](trailhound_model::RecordSink), and accounts for
//! every object and record in a [`ScanSummary`]. It never prints and never exits: errors are
//! values, reported with the file and the position in it.
//!
//! ```no_run
//! use trailhound_ingest::{discover, scan, ScanOptions, TimeRange};
//! use trailhound_model::NullSink;
//!
//! let found = discover(&["fixtures/s3".into()], &TimeRange::default());
//! let (_sink, summary) = scan(&found.objects, &ScanOptions::default(), || NullSink, |a, _| a, &|_| {})
//!     .expect("thread pool");
//! println!("{} records", summary.totals.records_read);
//! ```

pub mod decompress;
pub mod discover;
pub mod layout;
pub mod parquet_flow;
pub mod read;
pub mod scan;
pub mod sniff;
pub mod summary;

pub use discover::{Discovered, Object, discover};
pub use read::TimeRange;
pub use scan::{DEFAULT_LATENESS_MS, ScanError, ScanOptions, scan, scan_batches};
pub use summary::{Counters, ErrorEntry, ScanSummary};
