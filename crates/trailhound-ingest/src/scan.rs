//! The parallel pipeline: one rayon task per object (large plain flow files split at line
//! boundaries), each with its own sink, merged back in input order.
//!
//! Work in flight is bounded by the thread count: each worker holds one object (a memory map, or
//! one inflated buffer that it reuses for the next object), so memory does not grow with the
//! corpus. [`scan`] merges sinks and summaries with rayon's ordered `reduce`, so as long as the
//! sink's merge is associative the result is the same for any thread count and any work split.
//! [`scan_batches`] (the time-ordered scan of the detection engine) reads batches without a
//! barrier between them; it merges the summaries in order and the sinks of a batch in any order.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rayon::prelude::*;
use trailhound_model::{LogKind, PerKind, RecordSink};

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
    /// How far (ms) a record of each kind may lie before its object's key time (the delivery
    /// time in the file name, else its date folder) and still join the correlation windows of
    /// the records around it. Objects are then read in key-time order, in batches, and the
    /// windows no later record of their kind can reach are closed between batches, so the
    /// correlation state holds the open windows only. `None` reads in path order and keeps every
    /// window to the end (exact for any record order, with memory that grows with the number of
    /// groups). Default [`DEFAULT_LATENESS_MS`].
    pub lateness_ms: Option<PerKind<i64>>,
    /// Stored bytes per batch of a time-ordered scan, about (see `lateness_ms`): enough work for
    /// every thread between two closings of the windows, little enough that the open windows
    /// stay a small part of memory.
    pub batch_bytes: u64,
    /// Whether the detection stage counts its distinct correlation groups after each batch for
    /// [`ScanSummary::correlation_groups`] (a pass over every open bucket, a fiftieth of a flow
    /// scan); without it that count stays 0. Default true.
    pub count_correlation_groups: bool,
}

/// The default lateness per kind ([`ScanOptions::lateness_ms`]). CloudTrail names a file by
/// its delivery time and AWS bounds no delivery delay (an hour is the safe margin); Resolver
/// query logs get the same hour. A flow log file is named by the start of its five-minute
/// publication window and holds the records whose `end` lies in it, and a record spans at most
/// one aggregation interval (10 minutes at most), so its `start`, the time trailhound uses,
/// lies at most 10 minutes before the file's time: 15 minutes leave a margin.
pub const DEFAULT_LATENESS_MS: PerKind<i64> = PerKind {
    cloudtrail: 3_600_000,
    vpcflow: 900_000,
    dns: 3_600_000,
};

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threads: 0,
            range: TimeRange::default(),
            max_decompressed_bytes: 4 << 30,
            split_bytes: 64 << 20,
            lateness_ms: Some(DEFAULT_LATENESS_MS),
            batch_bytes: 4 << 20,
            count_correlation_groups: true,
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
    let pool = pool(opts)?;
    // Each worker folds a run of objects into one sink (so per-object state is not rebuilt and
    // re-merged for every object); runs are merged in input order.
    Ok(pool.install(|| {
        objects
            .par_iter()
            .fold(
                || (make(), ScanSummary::default()),
                |(mut sink, mut summary), o| {
                    process(o, opts, &mut sink, &mut summary, &make, &merge);
                    progress(o.size);
                    (sink, summary)
                },
            )
            .reduce(
                || (make(), ScanSummary::default()),
                |(a, mut sa), (b, sb)| {
                    sa.merge(sb);
                    (merge(a, b), sa)
                },
            )
    }))
}

fn pool(opts: &ScanOptions) -> Result<rayon::ThreadPool, ScanError> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if opts.threads > 0 {
        b = b.num_threads(opts.threads);
    }
    b.build().map_err(|e| ScanError::ThreadPool {
        threads: opts.threads,
        message: e.to_string(),
    })
}

/// Locks a mutex whose holder may have panicked (the state is then still what it was; the scan
/// reports the panic when the scope ends).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Like [`scan`], one batch of objects after another: batch `i` is `objects[ends[i-1]..ends[i]]`
/// (the last end should be `objects.len()`; objects past it are not read). The objects of batch
/// `i` are read into sinks made by `make(i)`; when the batch is complete they are merged, the
/// result is merged into the sink of the batches before it, then `after(i, &mut sink)` runs (to
/// drop state no later batch can need, so that memory stays as small as a batch). The batches,
/// not the thread count, decide when `after` runs.
///
/// There is no barrier between batches: the workers take the objects one by one in order, so
/// while one worker finishes the last object of batch `i`, the others read batch `i + 1`, and the
/// worker that completes a batch does its merge and `after` while the others read on. (With a
/// barrier, the end of every batch left all but one core idle: 15–20 % of a two-core scan.) So
/// `make(i + 1)` must not depend on what `after(i)` did: give it what it needs from the batch
/// index. And unlike [`scan`], the sinks of one batch are merged in no fixed order: `merge` must
/// give the same result whichever objects each sink saw (the detection engine's does). The
/// summary is still merged in object order. Batches that complete out of order wait for the ones
/// before them, so at most the batches read while an earlier batch's last object is still being
/// read are held at once.
pub fn scan_batches<S, Mk, Mg, Af>(
    objects: &[Object],
    ends: &[usize],
    opts: &ScanOptions,
    make: Mk,
    merge: Mg,
    progress: &(dyn Fn(u64) + Sync),
    after: Af,
) -> Result<(S, ScanSummary), ScanError>
where
    S: RecordSink + Send,
    Mk: Fn(usize) -> S + Sync,
    Mg: Fn(S, S) -> S + Sync,
    Af: FnMut(usize, &mut S) + Send,
{
    let pool = pool(opts)?;
    if ends.is_empty() {
        return Ok((make(0), ScanSummary::default()));
    }
    let n = ends.last().copied().unwrap_or(0).min(objects.len());
    let starts: Vec<usize> = std::iter::once(0)
        .chain(ends.iter().map(|&e| e.min(n)))
        .collect();
    let batches: Vec<Batch<S>> = (0..ends.len())
        .map(|i| Batch {
            start: starts[i],
            left: AtomicUsize::new(starts[i + 1].saturating_sub(starts[i])),
            sinks: Mutex::new(Vec::new()),
            summary: Mutex::new(InOrder::default()),
        })
        .collect();
    let fold = Fold {
        parked: Mutex::new(BTreeMap::new()),
        state: Mutex::new(FoldState {
            next: 0,
            sink: Some(make(0)),
            summary: ScanSummary::default(),
            after,
        }),
    };
    // Empty batches are complete before anything is read.
    for (i, b) in batches.iter().enumerate() {
        if b.left.load(Ordering::Relaxed) == 0 {
            lock(&fold.parked).insert(i, (make(i), ScanSummary::default()));
        }
    }
    fold.run(&merge);
    let next = AtomicUsize::new(0);
    let worker = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= n {
                break;
            }
            let bi = starts[1..].partition_point(|&e| e <= k);
            let Some(b) = batches.get(bi) else { break };
            let popped = lock(&b.sinks).pop();
            let mut sink = popped.unwrap_or_else(|| make(bi));
            let mut summary = ScanSummary::default();
            process(
                &objects[k],
                opts,
                &mut sink,
                &mut summary,
                &|| make(bi),
                &merge,
            );
            progress(objects[k].size);
            lock(&b.summary).add(k - b.start, summary);
            lock(&b.sinks).push(sink);
            if b.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                // The batch's last object: no other worker touches it any more.
                let sinks = std::mem::take(&mut *lock(&b.sinks));
                let sink = sinks.into_iter().reduce(&merge).unwrap_or_else(|| make(bi));
                let summary = std::mem::take(&mut lock(&b.summary).done);
                lock(&fold.parked).insert(bi, (sink, summary));
                fold.run(&merge);
            }
        }
    };
    pool.install(|| {
        rayon::scope(|s| {
            for _ in 0..rayon::current_num_threads() {
                s.spawn(|_| worker());
            }
        })
    });
    let st = fold
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let sink = st.sink.unwrap_or_else(|| make(0));
    Ok((sink, st.summary))
}

/// One batch being read by [`scan_batches`].
struct Batch<S> {
    /// Its first object.
    start: usize,
    /// Objects not read yet.
    left: AtomicUsize,
    /// Sinks that have read some of its objects, free for the next one.
    sinks: Mutex<Vec<S>>,
    summary: Mutex<InOrder>,
}

/// A batch's object summaries, merged in object order as they arrive.
#[derive(Default)]
struct InOrder {
    next: usize,
    parked: BTreeMap<usize, ScanSummary>,
    done: ScanSummary,
}

impl InOrder {
    fn add(&mut self, i: usize, s: ScanSummary) {
        self.parked.insert(i, s);
        while let Some(s) = self.parked.remove(&self.next) {
            self.done.merge(s);
            self.next += 1;
        }
    }
}

/// The complete batches of [`scan_batches`], folded into one sink in batch order.
struct Fold<S, Af> {
    /// Complete batches not folded yet.
    parked: Mutex<BTreeMap<usize, (S, ScanSummary)>>,
    state: Mutex<FoldState<S, Af>>,
}

struct FoldState<S, Af> {
    /// The next batch to fold.
    next: usize,
    sink: Option<S>,
    summary: ScanSummary,
    after: Af,
}

impl<S, Af: FnMut(usize, &mut S)> Fold<S, Af> {
    /// Folds the parked batches that are next in order, unless another worker is folding (it
    /// then folds them: a worker that finds nothing to fold looks again after letting go, so a
    /// batch parked meanwhile is not left behind).
    fn run(&self, merge: &impl Fn(S, S) -> S) {
        loop {
            let Ok(mut st) = self.state.try_lock() else {
                return;
            };
            loop {
                let Some((sink, summary)) = lock(&self.parked).remove(&st.next) else {
                    break;
                };
                let i = st.next;
                let mut folded = match st.sink.take() {
                    Some(mine) => merge(mine, sink),
                    None => sink,
                };
                (st.after)(i, &mut folded);
                st.sink = Some(folded);
                st.summary.merge(summary);
                st.next += 1;
            }
            let next = st.next;
            drop(st);
            if !lock(&self.parked).contains_key(&next) {
                return;
            }
        }
    }
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
        // SIMD UTF-8 check (std's was 2 % of a CloudTrail scan); its error says where too.
        LogKind::CloudTrail | LogKind::Dns => match simdutf8::compat::from_utf8(data) {
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
    let (body, mut line, body_at) = crate::read::flow_body(data, first_end, header);
    let step = usize::try_from(opts.split_bytes)
        .unwrap_or(usize::MAX)
        .max(1);
    // Each chunk with its first line's number and first byte's offset in the object.
    let mut chunks: Vec<(&[u8], u64, u64)> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let mut end = (pos + step).min(body.len());
        if end < body.len() {
            end = memchr::memchr(b'\n', &body[end..]).map_or(body.len(), |i| end + i + 1);
        }
        let chunk = &body[pos..end];
        chunks.push((chunk, line, (body_at + pos) as u64));
        line += memchr::memchr_iter(b'\n', chunk).count() as u64;
        pos = end;
    }
    let (s, st) = chunks
        .par_iter()
        .map(|(chunk, first_line, first_byte)| {
            let mut s = make();
            let mut st = ObjectStats::default();
            let mut ends = Vec::with_capacity(schema.len());
            read_flow_lines(
                chunk,
                *first_line,
                *first_byte,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use trailhound_model::{CloudTrailRecord, DnsRecord, FlowRecord};

    use super::*;

    /// The API names a sink saw (a set: the sinks of a batch merge in no fixed order).
    #[derive(Default)]
    struct Names(BTreeSet<String>);

    impl RecordSink for Names {
        fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
            self.0.insert(r.event_name.to_string());
        }
        fn flow(&mut self, _: &FlowRecord<'_>) {}
        fn dns(&mut self, _: &DnsRecord<'_>) {}
    }

    #[test]
    fn batches_fold_in_order_with_their_objects_and_summaries_in_object_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut objects = Vec::new();
        for k in 0..9 {
            let path = dir.path().join(format!("{k}.json"));
            // Objects 3 and 6 are broken: their errors must be listed in object order.
            let text = if k == 3 || k == 6 {
                "{\"Records\":[{\"eventTime\":".to_string()
            } else {
                format!(
                    "{{\"Records\":[{{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":\"E{k}\"}}]}}"
                )
            };
            std::fs::write(&path, &text).unwrap();
            objects.push(Object {
                display: path.display().to_string(),
                path,
                size: text.len() as u64,
                layout: None,
            });
        }
        // Batch 1 is empty; batch 4 has one object.
        let ends = [2, 2, 5, 8, 9];
        for threads in [1, 2, 4] {
            let opts = ScanOptions {
                threads,
                ..ScanOptions::default()
            };
            let mut seen = Vec::new();
            let (sink, summary) = scan_batches(
                &objects,
                &ends,
                &opts,
                |_| Names::default(),
                |mut a: Names, b: Names| {
                    a.0.extend(b.0);
                    a
                },
                &|_| {},
                |i, s: &mut Names| seen.push((i, s.0.len())),
            )
            .unwrap();
            // `after(i)` ran once per batch, in order, on every object of the batches up to i.
            assert_eq!(
                seen,
                [(0, 2), (1, 2), (2, 4), (3, 6), (4, 7)],
                "threads {threads}"
            );
            let want: BTreeSet<String> = [0, 1, 2, 4, 5, 7, 8]
                .iter()
                .map(|k| format!("E{k}"))
                .collect();
            assert_eq!(sink.0, want);
            assert_eq!(summary.totals.objects_scanned, 7);
            assert_eq!(summary.totals.objects_failed, 2);
            let failed: Vec<&str> = summary.errors.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(
                failed,
                [objects[3].display.as_str(), objects[6].display.as_str()],
                "threads {threads}"
            );
        }
    }

    /// Scans one file named `name` holding `text`, as a batch of its own.
    fn scan_one(name: &str, text: &[u8], opts: &ScanOptions) -> (Names, ScanSummary) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let objects = [Object {
            display: path.display().to_string(),
            path,
            size: text.len() as u64,
            layout: None,
        }];
        scan_batches(
            &objects,
            &[1],
            opts,
            |_| Names::default(),
            |mut a: Names, b: Names| {
                a.0.extend(b.0);
                a
            },
            &|_| {},
            |_, _: &mut Names| {},
        )
        .unwrap()
    }

    #[test]
    fn invalid_utf8_fails_a_json_object_where_it_is() {
        // A CloudTrail object with one byte that is not UTF-8 inside a string, on line 2: the
        // object fails with its position, as std's check reported it.
        let mut text =
            b"{\"Records\":[\n{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":\"E".to_vec();
        let at = text.len();
        text.extend_from_slice(b"\xff\"}]}");
        let (sink, summary) = scan_one("bad.json", &text, &ScanOptions::default());
        assert!(sink.0.is_empty());
        assert_eq!(summary.totals.objects_failed, 1);
        let e = &summary.errors[0];
        assert_eq!(e.code, "invalid-utf8");
        assert_eq!((e.line, e.byte), (Some(2), Some(at as u64)));
        assert_eq!(std::str::from_utf8(&text).unwrap_err().valid_up_to(), at);
    }

    #[test]
    fn a_split_flow_file_reports_positions_in_the_object() {
        // A plain flow file read in chunks of about 200 bytes: the line with a bad byte is
        // rejected at its line and byte in the file, not in its chunk.
        let mut text = b"version srcaddr dstaddr start end action log-status\n".to_vec();
        let mut at = 0;
        for i in 0..50 {
            if i == 39 {
                at = text.len() + 2;
                text.extend_from_slice(b"2 \xff0.0.0.1 10.0.0.2 100 160 ACCEPT OK\n");
            } else {
                text.extend_from_slice(b"2 10.0.0.1 10.0.0.2 100 160 ACCEPT OK\n");
            }
        }
        for threads in [1, 2] {
            let opts = ScanOptions {
                threads,
                split_bytes: 200,
                ..ScanOptions::default()
            };
            let (_, summary) = scan_one("flows.log", &text, &opts);
            assert_eq!(summary.totals.records_read, 50);
            assert_eq!(summary.totals.records_rejected, 1);
            let e = &summary.errors[0];
            assert_eq!(
                (e.line, e.byte),
                (Some(41), Some(at as u64)),
                "threads {threads}"
            );
        }
    }
}
