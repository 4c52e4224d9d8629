//! The parallel pipeline: one rayon task per object (large plain flow files split at line
//! boundaries), each with its own sink, merged back in input order.
//!
//! Work in flight is bounded by the thread count: each worker holds one object (a memory map, or
//! one inflated buffer that it reuses for the next object), so memory does not grow with the
//! corpus. Sinks and summaries are merged with rayon's ordered `reduce`, so as long as the sink's
//! merge is associative the result is the same for any thread count and any work split.

use std::cell::RefCell;
use std::fs::File;

use rayon::prelude::*;
use trailhound_model::{LogKind, RecordSink};

use crate::decompress::{DecompressError, Inflater, is_gzip};
use crate::discover::Object;
use crate::read::{
    ObjectFailure, ObjectStats, Position, TimeRange, flow_schema, line_at, read_cloudtrail,
    read_dns, read_flow, read_flow_lines,
};
use crate::sniff::{looks_like_log_name, sniff};
use crate::summary::{Counters, ScanSummary};

/// How a scan runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Records outside this range are skipped.
    pub range: TimeRange,
    /// Largest decompressed object accepted (a bigger one fails as a decompression bomb).
    pub max_decompressed_bytes: u64,
    /// Plain flow-log files larger than this are split into chunks of about this size.
    pub split_bytes: u64,
    /// How far (ms) a record may lie before its object's key time (the delivery time in the
    /// file name, else its date folder) and still join the correlation windows of the records
    /// around it. Objects are then read in key-time order, in batches, and the windows no later
    /// record can reach are closed between batches, so the correlation state holds the open
    /// windows only. `None` reads in path order and keeps every window to the end (exact for
    /// any record order, with memory that grows with the number of groups).
    pub lateness_ms: Option<i64>,
    /// Stored bytes per batch of a time-ordered scan, about (see `lateness_ms`): enough work for
    /// every thread between two closings of the windows, little enough that the open windows
    /// stay a small part of memory.
    pub batch_bytes: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threads: 0,
            range: TimeRange::default(),
            max_decompressed_bytes: 4 << 30,
            split_bytes: 64 << 20,
            lateness_ms: Some(3_600_000),
            batch_bytes: 8 << 20,
        }
    }
}

/// Errors that stop a scan before it starts (input errors never do).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The worker pool could not be created.
    #[error("cannot start {threads} worker threads: {message}")]
    ThreadPool {
        /// Requested threads.
        threads: usize,
        /// The reason.
        message: String,
    },
}

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::new());
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Keep at most this much inflate buffer per thread between objects.
const KEEP_BUFFER: usize = 256 << 20;

/// Reads every object, feeding records to sinks made by `make` and merged by `merge`.
///
/// `progress` is called with each object's stored size when it is done.
pub fn scan<S, Mk, Mg>(
    objects: &[Object],
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
    scan_batches(
        objects,
        &[objects.len()],
        opts,
        |_| make(),
        merge,
        progress,
        |_, _| {},
    )
}

/// Like [`scan`], one batch of objects after another: batch `i` is `objects[ends[i-1]..ends[i]]`
/// (the last end should be `objects.len()`; objects past it are not read). Each batch is read in
/// parallel into sinks made by `make(i)`, merged into the sink of the batches before it, then
/// `after(i, &mut sink)` runs (to drop state no later batch can need, so that memory stays as
/// small as a batch). The batches, not the thread count, decide when `after` runs.
///
/// The merge and `after` of batch `i` run while the workers read batch `i + 1` (they are serial,
/// and would otherwise leave every other core idle between batches). So `make(i + 1)` must not
/// depend on what `after(i)` did: give it what it needs from the batch index.
pub fn scan_batches<S, Mk, Mg, Af>(
    objects: &[Object],
    ends: &[usize],
    opts: &ScanOptions,
    make: Mk,
    merge: Mg,
    progress: &(dyn Fn(u64) + Sync),
    mut after: Af,
) -> Result<(S, ScanSummary), ScanError>
where
    S: RecordSink + Send,
    Mk: Fn(usize) -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
    Af: FnMut(usize, &mut S) + Send,
{
    let mut b = rayon::ThreadPoolBuilder::new();
    if opts.threads > 0 {
        b = b.num_threads(opts.threads);
    }
    let pool = b.build().map_err(|e| ScanError::ThreadPool {
        threads: opts.threads,
        message: e.to_string(),
    })?;
    let batch = |i: usize| -> &[Object] {
        let start = if i == 0 { 0 } else { ends[i - 1] };
        let end = ends[i];
        &objects[start.min(objects.len())..end.clamp(start, objects.len())]
    };
    // Each worker folds a run of objects into one sink (so per-object state is not rebuilt and
    // re-merged for every object); runs are merged in input order.
    let read = |i: usize| -> (S, ScanSummary) {
        let mk = || make(i);
        batch(i)
            .par_iter()
            .fold(
                || (mk(), ScanSummary::default()),
                |(mut sink, mut summary), o| {
                    process(o, opts, &mut sink, &mut summary, &mk, &merge);
                    progress(o.size);
                    (sink, summary)
                },
            )
            .reduce(
                || (mk(), ScanSummary::default()),
                |(a, mut sa), (b, sb)| {
                    sa.merge(sb);
                    (merge(a, b), sa)
                },
            )
    };
    let mut summary = ScanSummary::default();
    if ends.is_empty() {
        return Ok((make(0), summary));
    }
    // Batch `i`'s sinks folded into the sink of the batches before it, then `after(i)`.
    let mut fold_in = |sink: S, (s, sm): (S, ScanSummary), i: usize| {
        let mut sink = merge(sink, s);
        summary.merge(sm);
        after(i, &mut sink);
        sink
    };
    let sink = pool.install(|| {
        let mut sink = make(0);
        let mut pending = read(0);
        for i in 1..ends.len() {
            let (next, merged) = rayon::join(|| read(i), || fold_in(sink, pending, i - 1));
            (sink, pending) = (merged, next);
        }
        fold_in(sink, pending, ends.len() - 1)
    });
    Ok((sink, summary))
}

fn record_outcome(
    o: &Object,
    kind: Option<LogKind>,
    stats: &ObjectStats,
    stored: u64,
    inflated: u64,
    summary: &mut ScanSummary,
) {
    let failed = stats.failure.is_some();
    let c = Counters {
        objects_scanned: u64::from(!failed),
        objects_failed: u64::from(failed),
        records_read: stats.read,
        records_parsed: stats.parsed,
        records_skipped: stats.skipped_total(),
        records_rejected: stats.rejected_total(),
        bytes_compressed: stored,
        bytes_uncompressed: inflated,
        objects_skipped: 0,
    };
    summary.count(kind, &c);
    for (r, n) in &stats.skipped {
        *summary
            .records_skipped_by_reason
            .entry((*r).to_owned())
            .or_default() += n;
    }
    for (r, n) in &stats.rejected {
        *summary
            .records_rejected_by_reason
            .entry((*r).to_owned())
            .or_default() += n;
    }
    for e in stats.error_entries(&o.display, kind) {
        summary.push_error(e);
    }
}

fn fail(
    o: &Object,
    kind: Option<LogKind>,
    f: ObjectFailure,
    stored: u64,
    summary: &mut ScanSummary,
) {
    let stats = ObjectStats {
        failure: Some(f),
        ..ObjectStats::default()
    };
    record_outcome(o, kind, &stats, stored, 0, summary);
}

fn process<S, Mk, Mg>(
    o: &Object,
    opts: &ScanOptions,
    sink: &mut S,
    summary: &mut ScanSummary,
    make: &Mk,
    merge: &Mg,
) where
    S: RecordSink + Send,
    Mk: Fn() -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
{
    let key_kind = o.key_kind();
    let file = match File::open(&o.path) {
        Ok(f) => f,
        Err(e) => {
            return fail(
                o,
                key_kind,
                ObjectFailure::new("unreadable", format!("cannot open: {e}")),
                0,
                summary,
            );
        }
    };
    let stored = file.metadata().map(|m| m.len()).unwrap_or(o.size);
    if stored == 0 {
        match key_kind {
            Some(k) => record_outcome(o, Some(k), &ObjectStats::default(), 0, 0, summary),
            None => summary.skip_object(None, "empty"),
        }
        return;
    }
    // SAFETY: the map is read-only and lives only for this function. A file truncated by another
    // process while mapped can raise SIGBUS; like ripgrep, we accept that for log archives, which
    // are written once.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => {
            return fail(
                o,
                key_kind,
                ObjectFailure::new("unreadable", format!("cannot map: {e}")),
                stored,
                summary,
            );
        }
    };
    if map.starts_with(b"PAR1") {
        let kind = match key_kind {
            Some(k) => Some(k),
            None => match file.try_clone() {
                Ok(f) => crate::parquet_flow::is_flow_parquet(f).then_some(LogKind::VpcFlow),
                Err(_) => None,
            },
        };
        drop(map);
        match kind {
            Some(LogKind::VpcFlow) => {
                let mut stats = ObjectStats::default();
                crate::parquet_flow::read_flow_parquet(file, &opts.range, sink, &mut stats);
                record_outcome(o, kind, &stats, stored, stored, summary);
            }
            Some(k) => fail(
                o,
                Some(k),
                ObjectFailure::new(
                    "bad-shape",
                    format!("a Parquet file where {k} logs were expected"),
                ),
                stored,
                summary,
            ),
            None => summary.skip_object(None, "unknown-kind"),
        }
        return;
    }
    if is_gzip(&map) {
        let done = INFLATER.with(|inf| {
            BUFFER.with(|buf| {
                let (Ok(mut inf), Ok(mut buf)) = (inf.try_borrow_mut(), buf.try_borrow_mut())
                else {
                    return false;
                };
                let r = inf.gunzip(&map, opts.max_decompressed_bytes, &mut buf);
                match r {
                    Ok(()) => read_bytes(
                        o, opts, key_kind, &buf, stored, true, sink, summary, make, merge,
                    ),
                    Err(e) => gzip_failure(o, key_kind, e, stored, summary),
                }
                if buf.capacity() > KEEP_BUFFER {
                    *buf = Vec::new();
                }
                true
            })
        });
        if !done {
            // Re-entered on this thread (a sink that itself scans): use a private buffer.
            let mut buf = Vec::new();
            match Inflater::new().gunzip(&map, opts.max_decompressed_bytes, &mut buf) {
                Ok(()) => read_bytes(
                    o, opts, key_kind, &buf, stored, true, sink, summary, make, merge,
                ),
                Err(e) => gzip_failure(o, key_kind, e, stored, summary),
            }
        }
        return;
    }
    read_bytes(
        o, opts, key_kind, &map, stored, false, sink, summary, make, merge,
    );
}

fn gzip_failure(
    o: &Object,
    kind: Option<LogKind>,
    e: DecompressError,
    stored: u64,
    summary: &mut ScanSummary,
) {
    let (code, byte) = match &e {
        DecompressError::NotGzip => ("corrupt-gzip", Some(0)),
        DecompressError::Corrupt { offset } => ("corrupt-gzip", Some(*offset as u64)),
        DecompressError::TrailingGarbage { offset, .. } => ("corrupt-gzip", Some(*offset as u64)),
        DecompressError::TooLarge { .. } => ("too-large", None),
    };
    let f = ObjectFailure::new(code, e.to_string()).at(Position {
        byte,
        ..Position::default()
    });
    fail(o, kind, f, stored, summary);
}

#[allow(clippy::too_many_arguments)]
fn read_bytes<S, Mk, Mg>(
    o: &Object,
    opts: &ScanOptions,
    key_kind: Option<LogKind>,
    data: &[u8],
    stored: u64,
    compressed: bool,
    sink: &mut S,
    summary: &mut ScanSummary,
    make: &Mk,
    merge: &Mg,
) where
    S: RecordSink + Send,
    Mk: Fn() -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
{
    let inflated = data.len() as u64;
    let kind = match key_kind.or_else(|| sniff(data)) {
        Some(k) => k,
        None => {
            let name = o
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if compressed || looks_like_log_name(&name) {
                let json_like = data
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|b| matches!(b, b'{' | b'['));
                let first_line = &data[..memchr::memchr(b'\n', data).unwrap_or(data.len())];
                let parses = |b: &[u8]| sonic_rs::from_slice::<serde::de::IgnoredAny>(b).is_ok();
                if json_like && (parses(first_line) || parses(data)) {
                    summary.skip_object(None, "unknown-kind");
                } else {
                    let f = ObjectFailure::new("unknown-content", "named or compressed like a log, but the content is not a CloudTrail, VPC flow or Route 53 Resolver log")
                        .at(Position { line: Some(1), record: None, byte: Some(0) });
                    let stats = ObjectStats {
                        failure: Some(f),
                        ..ObjectStats::default()
                    };
                    record_outcome(o, None, &stats, stored, inflated, summary);
                }
            } else {
                summary.skip_object(None, "unknown-kind");
            }
            return;
        }
    };
    let mut stats = ObjectStats::default();
    match kind {
        LogKind::VpcFlow => {
            if !compressed && inflated > opts.split_bytes && opts.split_bytes > 0 {
                stats = read_flow_split(data, opts, sink, make, merge);
            } else {
                read_flow(data, &opts.range, sink, &mut stats);
            }
        }
        LogKind::CloudTrail | LogKind::Dns => match std::str::from_utf8(data) {
            Ok(text) => {
                if kind == LogKind::CloudTrail {
                    read_cloudtrail(text, &opts.range, sink, &mut stats)
                } else {
                    read_dns(text, &opts.range, sink, &mut stats)
                }
            }
            Err(e) => {
                let at = e.valid_up_to();
                stats.failure = Some(
                    ObjectFailure::new("invalid-utf8", "content is not valid UTF-8").at(Position {
                        line: Some(line_at(data, at)),
                        record: None,
                        byte: Some(at as u64),
                    }),
                );
            }
        },
    }
    record_outcome(o, Some(kind), &stats, stored, inflated, summary);
}

/// Splits a large plain flow file at line boundaries and reads the chunks in parallel.
fn read_flow_split<S, Mk, Mg>(
    data: &[u8],
    opts: &ScanOptions,
    sink: &mut S,
    make: &Mk,
    merge: &Mg,
) -> ObjectStats
where
    S: RecordSink + Send,
    Mk: Fn() -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
{
    let mut stats = ObjectStats::default();
    let first_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let first = std::str::from_utf8(&data[..first_end]).unwrap_or("");
    let (schema, header) = match flow_schema(first) {
        Ok(s) => s,
        Err(f) => {
            stats.failure = Some(f);
            return stats;
        }
    };
    let (body, mut line) = if header {
        (data.get(first_end + 1..).unwrap_or(&[]), 2u64)
    } else {
        (data, 1u64)
    };
    let step = usize::try_from(opts.split_bytes)
        .unwrap_or(usize::MAX)
        .max(1);
    let mut chunks: Vec<(&[u8], u64)> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let mut end = (pos + step).min(body.len());
        if end < body.len() {
            end = memchr::memchr(b'\n', &body[end..]).map_or(body.len(), |i| end + i + 1);
        }
        let chunk = &body[pos..end];
        chunks.push((chunk, line));
        line += memchr::memchr_iter(b'\n', chunk).count() as u64;
        pos = end;
    }
    let (s, st) = chunks
        .par_iter()
        .map(|(chunk, first_line)| {
            let mut s = make();
            let mut st = ObjectStats::default();
            let mut ends = Vec::with_capacity(schema.len());
            read_flow_lines(
                chunk,
                *first_line,
                &schema,
                &mut ends,
                &opts.range,
                &mut s,
                &mut st,
            );
            (s, st)
        })
        .reduce(
            || (make(), ObjectStats::default()),
            |(a, mut sa), (b, sb)| {
                sa.absorb(sb);
                (merge(a, b), sa)
            },
        );
    let taken = std::mem::replace(sink, make());
    *sink = merge(taken, s);
    st
}
