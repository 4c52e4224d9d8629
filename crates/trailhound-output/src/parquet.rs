//! Findings as Parquet: trailhound's own layout (one row per finding, typed columns) and the OCSF
//! Detection Finding layout (class 2004) that Amazon Security Lake stores.
//!
//! Both go through arrow `RecordBatch`es into `ArrowWriter` with zstd compression; low-cardinality
//! text (type, label, account, region, rule) is dictionary-encoded in Arrow already, and row
//! groups are flushed when the writer's buffered size passes [`ROW_GROUP_BYTES`]. The schemas are
//! documented in docs/output.md.

use std::io::Write;
use std::sync::Arc;

use arrow_array::ListArray;
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, StructArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trailhound_detect::finding::Finding;

use crate::OutputError;
use crate::dictcol::DictColumn;

/// Rows per record batch.
pub const BATCH_ROWS: usize = 8192;
/// Buffered bytes after which a row group is flushed.
pub const ROW_GROUP_BYTES: usize = 64 << 20;

pub(crate) fn perr(e: impl std::fmt::Display) -> OutputError {
    OutputError::Parquet(e.to_string())
}

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn string_list<'a, R: IntoIterator<Item = &'a String> + Clone>(
    rows: impl Iterator<Item = R>,
) -> ArrayRef {
    // Sized up front (see `strs`).
    let rows: Vec<R> = rows.collect();
    let (mut items, mut bytes) = (0, 0);
    for r in &rows {
        for s in r.clone() {
            items += 1;
            bytes += s.len();
        }
    }
    let mut b = ListBuilder::with_capacity(StringBuilder::with_capacity(items, bytes), rows.len());
    for r in rows {
        for s in r {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn dict_col<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(dict_keys(crate::texts_ahead(v.collect())))
}

/// A dictionary array of `v` (keys in order of first appearance, as Arrow's dictionary builder
/// assigns them). Findings come sorted by type, so most values equal the one before: each value
/// is compared with its predecessor and only looked up in the table of distinct values when it
/// differs, and no value is copied but the distinct ones.
fn dict_keys<'a>(v: impl Iterator<Item = Option<&'a str>>) -> DictionaryArray<Int32Type> {
    let (lower, _) = v.size_hint();
    let mut keys = Vec::with_capacity(lower);
    let mut valid = arrow_buffer::NullBufferBuilder::new(lower);
    let mut distinct: Vec<&str> = Vec::new();
    let mut index: hashbrown::HashMap<&str, i32> = hashbrown::HashMap::new();
    let mut last: Option<(&str, i32)> = None;
    for s in v {
        let Some(s) = s else {
            keys.push(0);
            valid.append_null();
            continue;
        };
        valid.append_non_null();
        let k = match last {
            // The rule's texts are shared between findings: the same text is the same pointer.
            Some((l, k)) if std::ptr::eq(l, s) || l == s => k,
            _ => {
                let next = i32::try_from(distinct.len()).unwrap_or(i32::MAX);
                let k = *index.entry(s).or_insert_with(|| {
                    distinct.push(s);
                    next
                });
                last = Some((s, k));
                k
            }
        };
        keys.push(k);
    }
    let keys = Int32Array::new(keys.into(), valid.finish());
    let values: ArrayRef = Arc::new(StringArray::from(distinct));
    // Every key indexes `distinct`; `i32::MAX` distinct values would not fit a batch.
    DictionaryArray::new(keys, values)
}

/// `types` of the OCSF layout: a list of one string per row, its items dictionary-encoded.
fn dict_list<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    let items = dict_keys(v.map(Some));
    let n = items.len();
    let field = Arc::new(Field::new("item", items.data_type().clone(), true));
    let one_each = OffsetBuffer::from_lengths(std::iter::repeat_n(1usize, n));
    Arc::new(ListArray::new(field, one_each, Arc::new(items), None))
}

/// `t` with dictionary-encoded strings as plain strings (in structs and lists too): the Arrow type
/// a file's readers see. Arrow dictionary arrays are written to Parquet columns of their value
/// type (parquet-rs deems the two compatible), so the writers may build columns either way.
fn plain(t: &DataType) -> DataType {
    let field = |f: &Field| f.clone().with_data_type(plain(f.data_type()));
    match t {
        DataType::Dictionary(_, v) => plain(v),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(|f| field(f)).collect()),
        DataType::List(f) => DataType::List(Arc::new(field(f))),
        other => other.clone(),
    }
}

fn list_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        false,
    )
}

/// The schema of trailhound's own findings layout.
pub fn findings_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("type", dict(), false),
        Field::new("severity", DataType::Float64, false),
        Field::new("severity_label", dict(), false),
        Field::new("title", DataType::Utf8, false),
        Field::new("description", dict(), false),
        Field::new("account", dict(), true),
        Field::new("region", dict(), true),
        Field::new(
            "resource",
            DataType::Struct(Fields::from(vec![
                Field::new("type", DataType::Utf8, false),
                Field::new("id", DataType::Utf8, false),
            ])),
            false,
        ),
        Field::new("count", DataType::UInt64, false),
        Field::new("first_seen", ts_type(), true),
        Field::new("last_seen", ts_type(), true),
        Field::new("rule_id", dict(), false),
        Field::new("rule_path", dict(), false),
        list_field("attack"),
        list_field("samples"),
    ]))
}

fn findings_batch(schema: &Arc<Schema>, fs: &[Finding]) -> Result<RecordBatch, OutputError> {
    let res_fields = Fields::from(vec![
        Field::new("type", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
    ]);
    let resource = StructArray::new(
        res_fields,
        vec![
            strs(fs.iter().map(|f| Some(f.resource.kind.as_str()))),
            strs(fs.iter().map(|f| Some(f.resource.id.as_str()))),
        ],
        None,
    );
    let cols: Vec<ArrayRef> = vec![
        strs(fs.iter().map(|f| Some(f.id.as_str()))),
        dict_col(fs.iter().map(|f| Some(f.finding_type.as_str()))),
        Arc::new(Float64Array::from_iter_values(
            fs.iter().map(|f| f.severity),
        )),
        dict_col(fs.iter().map(|f| Some(f.severity_label))),
        strs(fs.iter().map(|f| Some(&*f.title))),
        dict_col(fs.iter().map(|f| Some(&*f.description))),
        dict_col(fs.iter().map(|f| f.account.as_deref())),
        dict_col(fs.iter().map(|f| f.region.as_deref())),
        Arc::new(resource),
        Arc::new(UInt64Array::from_iter_values(fs.iter().map(|f| f.count))),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(fs.iter().map(|f| f.first_seen))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(fs.iter().map(|f| f.last_seen))
                .with_timezone("UTC"),
        ),
        dict_col(fs.iter().map(|f| Some(&*f.rule_id))),
        dict_col(fs.iter().map(|f| Some(&*f.rule_path))),
        string_list(fs.iter().map(|f| &f.attack[..])),
        string_list(fs.iter().map(|f| &f.samples)),
    ];
    RecordBatch::try_new(schema.clone(), cols).map_err(perr)
}

/// zstd everywhere; dictionaries and min/max statistics everywhere but in `unique`, the columns
/// whose values are (nearly) all different (ids, samples), where a dictionary only costs hashing
/// until the writer gives it up at its size limit and the bounds of random ids prune nothing.
/// Those are stored `DELTA_BYTE_ARRAY` (each value as the length of the prefix it shares with the
/// one before, and the rest): ARNs, JSON texts and ids of sorted findings share long prefixes,
/// and zstd then has a third less to compress (OCSF Parquet of 98,494 findings: 7.6 -> 7.3 MB and
/// about a tenth less time). `prose` columns (titles, descriptions, paths) keep their dictionary
/// but have no statistics: nobody selects a range of descriptions, and comparing each row's few
/// hundred bytes with the bounds cost a third of such a column's time.
/// The timestamp columns of `schema` have no dictionary (millisecond times barely repeat; that
/// hashing was a tenth of the OCSF writer's time) and are stored `DELTA_BINARY_PACKED` (a third
/// of the time of plain values through zstd) and not compressed: zstd took 1.6 % off those
/// delta-packed pages (OCSF Parquet of 98,494 findings: 311 -> 306 KB a time column) for time
/// spent on every page. They keep their statistics, which let a query over a time range skip row
/// groups.
fn props(schema: &Schema, unique: &[&str], prose: &[&str]) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_created_by(format!("trailhound {}", env!("CARGO_PKG_VERSION")));
    let path = |c: &str| ColumnPath::new(c.split('.').map(str::to_owned).collect());
    for c in unique {
        b = b
            .set_column_dictionary_enabled(path(c), false)
            .set_column_encoding(path(c), Encoding::DELTA_BYTE_ARRAY)
            .set_column_statistics_enabled(path(c), EnabledStatistics::None);
    }
    for c in prose {
        b = b.set_column_statistics_enabled(path(c), EnabledStatistics::None);
    }
    for c in timestamp_columns(schema.fields(), "") {
        b = b
            .set_column_dictionary_enabled(path(&c), false)
            .set_column_encoding(path(&c), Encoding::DELTA_BINARY_PACKED)
            .set_column_compression(path(&c), Compression::UNCOMPRESSED);
    }
    b.build()
}

/// The dotted paths of the timestamp columns under `fields` (into structs, not lists): Arrow
/// timestamps, and OCSF's `timestamp_t` (int64 epoch ms, in attributes named `time` or `*_time`).
fn timestamp_columns(fields: &Fields, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        let name = format!("{prefix}{}", f.name());
        let ocsf_time = f.name() == "time" || f.name().ends_with("_time");
        match f.data_type() {
            DataType::Timestamp(..) => out.push(name),
            DataType::Int64 if ocsf_time => out.push(name),
            DataType::Struct(inner) => out.extend(timestamp_columns(inner, &format!("{name}."))),
            _ => {}
        }
    }
    out
}

fn write_with<W: Write + Send>(
    w: W,
    schema: Arc<Schema>,
    findings: &[Finding],
    props: WriterProperties,
    batch: impl Fn(&Arc<Schema>, &[Finding]) -> Result<RecordBatch, OutputError> + Sync,
    by_hand: bool,
) -> Result<W, OutputError> {
    use rayon::prelude::*;
    // `ArrowWriter` builds nothing in parallel and encodes and compresses its columns one after
    // the other on the calling thread. Its lower-level parts (which it is made into here, so the
    // file keeps the embedded Arrow schema) encode each column on its own.
    let max_rows = props.max_row_group_size();
    let writer = ArrowWriter::try_new(w, schema.clone(), Some(props.clone())).map_err(perr)?;
    let (mut file, factory) = writer.into_serialized_writer().map_err(perr)?;
    // Dictionary text columns are encoded by `dictcol` from their keys (see there why); the plan
    // is made from the batches' own schema, where those columns are Arrow dictionaries.
    let batch_schema = batch(&schema, &[])?.schema();
    let mut hand = DictColumn::plan(&batch_schema, file.schema_descr().columns(), &props);
    if !by_hand {
        hand.iter_mut().for_each(|h| *h = None);
    }
    // Per top-level column, its number of leaves and whether parquet-rs has none of them (their
    // leaves need not be computed then).
    let descr = file.schema_descr();
    let mut tops = vec![(0usize, true); batch_schema.fields().len()];
    for (j, h) in hand.iter().enumerate() {
        if let Some(t) = tops.get_mut(descr.get_column_root_idx(j)) {
            *t = (t.0 + 1, t.1 && h.is_some());
        }
    }
    // A few batches per pool thread are built at once, then each column writer takes its leaves
    // of those batches in order; the next window is built while this one is encoded (both on the
    // pool, so a thread done with its columns helps build). Nothing is encoded while the first
    // window is built, so that one is half as long: one batch per thread.
    let threads = rayon::current_num_threads().max(1);
    let window = BATCH_ROWS * threads * 2;
    let build = |part: &[Finding]| {
        part.par_chunks(BATCH_ROWS)
            .map(|c| {
                let b = batch(&schema, c)?;
                let mut leaves = Vec::new();
                // The batch's own fields: its columns may be dictionary arrays where the file's
                // schema has their plain type (see `plain`).
                for ((a, f), &(n, skip)) in b.columns().iter().zip(b.schema().fields()).zip(&tops) {
                    if skip {
                        leaves.extend((0..n).map(|_| None));
                    } else {
                        leaves.extend(compute_leaves(f, a).map_err(perr)?.into_iter().map(Some));
                    }
                }
                Ok((b, leaves))
            })
            .collect::<Result<Vec<_>, OutputError>>()
    };
    let (head, rest) = findings.split_at(findings.len().min(BATCH_ROWS * threads));
    let mut windows = std::iter::once(head).chain(rest.chunks(window));
    let mut current = windows.next().map(build);
    let (mut group, mut columns, mut rows) = (0, None, 0);
    // How long each column took in the last window: the next one encodes the longest first.
    let mut took = vec![std::time::Duration::ZERO; hand.len()];
    while let Some(leaves) = current.take() {
        let leaves = leaves?;
        let cols = match &mut columns {
            Some(c) => c,
            None => columns.insert(factory.create_column_writers(group).map_err(perr)?),
        };
        let (encoded, next) = rayon::join(
            || {
                let tasks = cols.iter_mut().zip(hand.iter_mut()).zip(took.iter_mut());
                longest_first(tasks.enumerate(), threads, |j, ((c, h), took)| {
                    let start = std::time::Instant::now();
                    match h {
                        Some(h) => leaves.iter().try_for_each(|(b, _)| h.push(b))?,
                        None => leaves
                            .iter()
                            .filter_map(|(_, l)| l.get(j).and_then(Option::as_ref))
                            .try_for_each(|l| c.write(l).map_err(perr))?,
                    }
                    *took = start.elapsed();
                    Ok(())
                })
            },
            || windows.next().map(build),
        );
        encoded?;
        current = next;
        rows += leaves.iter().map(|(b, _)| b.num_rows()).sum::<usize>();
        let size: usize = cols.iter().map(|c| c.get_estimated_total_bytes()).sum();
        if size >= ROW_GROUP_BYTES || rows >= max_rows || current.is_none() {
            let done = columns.take().unwrap_or_default();
            let closed = done
                .into_par_iter()
                .zip(hand.par_iter_mut())
                .map(|(c, h)| match h {
                    Some(h) => h.finish().map(|(b, c)| Closed::Hand(b, c)),
                    None => c.close().map(Closed::Arrow).map_err(perr),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut rg = file.next_row_group().map_err(perr)?;
            for c in closed {
                match c {
                    Closed::Arrow(c) => c.append_to_row_group(&mut rg).map_err(perr)?,
                    Closed::Hand(bytes, close) => rg.append_column(&bytes, close).map_err(perr)?,
                }
            }
            rg.close().map_err(perr)?;
            (group, rows) = (group + 1, 0);
        }
    }
    file.into_inner().map_err(perr)
}

/// Runs `work` on each of `tasks` (column `j` and its writer, with how long it took last time)
/// on up to `threads` pool threads, the longest-running first: each thread takes the next task
/// from one queue. Under rayon's halving split the column that took longest (OCSF's `unmapped`
/// JSON) started wherever its index fell, often last, and the window waited on it alone while
/// the other thread, done with the next window's batches, had nothing left to take. The first
/// error stops the tasks not yet started and is returned.
fn longest_first<'a, C: Send, H: Send>(
    tasks: impl Iterator<Item = (usize, ((C, H), &'a mut std::time::Duration))>,
    threads: usize,
    work: impl Fn(usize, ((C, H), &mut std::time::Duration)) -> Result<(), OutputError> + Sync,
) -> Result<(), OutputError> {
    use std::sync::Mutex;
    let mut tasks: Vec<_> = tasks.collect();
    tasks.sort_by_key(|(j, (_, took))| (std::cmp::Reverse(**took), *j));
    let n = tasks.len();
    // One queue; the lock is held only to take the next task. After an error it is emptied.
    let queue = Mutex::new(tasks.into_iter());
    let failed: Mutex<Option<OutputError>> = Mutex::new(None);
    let run = || {
        while let Some((j, t)) = queue.lock().ok().and_then(|mut q| q.next()) {
            if let Err(e) = work(j, t) {
                if let Ok(mut q) = queue.lock() {
                    q.by_ref().for_each(drop);
                }
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(e);
                }
                break;
            }
        }
    };
    rayon::scope(|s| {
        for _ in 1..threads.min(n) {
            s.spawn(|_| run());
        }
        run();
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        Ok(None) => Ok(()),
        Err(_) => Err(OutputError::Io(std::io::Error::other(
            "a Parquet column thread panicked",
        ))),
    }
}

/// A closed column chunk of a row group: parquet-rs's, or one of `dictcol`'s.
enum Closed {
    Arrow(parquet::arrow::arrow_writer::ArrowColumnChunk),
    Hand(bytes::Bytes, parquet::column::writer::ColumnCloseResult),
}

/// Writes findings in trailhound's layout; returns the writer.
pub fn write_findings<W: Write + Send>(w: W, findings: &[Finding]) -> Result<W, OutputError> {
    let schema = findings_schema();
    let props = props(
        &schema,
        &["id", "resource.id", "samples.list.item"],
        &["title", "description", "rule_path"],
    );
    write_with(w, schema, findings, props, findings_batch, true)
}

/// OCSF severity id of a GuardDuty-scale score (1 Informational … 5 Critical).
pub fn ocsf_severity(score: f64) -> (i32, &'static str) {
    if score >= 9.0 {
        (5, "Critical")
    } else if score >= 7.0 {
        (4, "High")
    } else if score >= 4.0 {
        (3, "Medium")
    } else if score >= 1.0 {
        (2, "Low")
    } else {
        (1, "Informational")
    }
}

/// A struct of the columns, each field typed as its array is.
fn st(fields: Vec<(Field, ArrayRef)>) -> StructArray {
    let (f, a): (Vec<Field>, Vec<ArrayRef>) = fields
        .into_iter()
        .map(|(f, a)| (f.with_data_type(a.data_type().clone()), a))
        .unzip();
    StructArray::new(Fields::from(f), a, None)
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// A string column, its buffers sized before they are filled: collected straight from the
/// iterator, the value buffer doubled its way up (a copy and fresh, page-faulted memory at each
/// step; page faults were a third of the OCSF writer's time).
fn strs<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let v: Vec<Option<&str>> = v.collect();
    let bytes = v.iter().map(|s| s.map_or(0, str::len)).sum();
    let mut b = StringBuilder::with_capacity(v.len(), bytes);
    for s in crate::texts_ahead(v) {
        b.append_option(s);
    }
    Arc::new(b.finish())
}

/// A column of `n` times the same text: a dictionary of one value.
fn repeated(v: &str, n: usize) -> ArrayRef {
    let keys = Int32Array::from(vec![0; n]);
    Arc::new(DictionaryArray::new(
        keys,
        Arc::new(StringArray::from(vec![v])),
    ))
}

fn consts<T: Clone>(n: usize, v: T) -> Vec<T> {
    vec![v; n]
}

fn ocsf_batch(fs: &[Finding]) -> Result<RecordBatch, OutputError> {
    let n = fs.len();
    let product = st(vec![
        (utf8("name"), repeated("trailhound", n)),
        (utf8("vendor_name"), repeated("trailhound", n)),
        (utf8("version"), repeated(env!("CARGO_PKG_VERSION"), n)),
    ]);
    let metadata = st(vec![
        (utf8("version"), repeated("1.1.0", n)),
        (
            Field::new("product", product.data_type().clone(), false),
            Arc::new(product) as ArrayRef,
        ),
    ]);
    let analytic = st(vec![
        (utf8("uid"), dict_col(fs.iter().map(|f| Some(&*f.rule_id)))),
        (
            utf8("name"),
            dict_col(fs.iter().map(|f| Some(&*f.rule_path))),
        ),
        (
            Field::new("type_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))) as ArrayRef,
        ),
        (utf8("type"), repeated("Rule", n)),
    ]);
    // Columns that OCSF repeats (the title as `message`, the region under `cloud` and each
    // resource, the times under `finding_info`) are built once and shared.
    let first_col: ArrayRef = Arc::new(Int64Array::from_iter_values(
        fs.iter().map(|f| f.first_seen),
    ));
    let last_col: ArrayRef = Arc::new(Int64Array::from_iter_values(fs.iter().map(|f| f.last_seen)));
    let time = last_col.clone();
    let title = dict_col(fs.iter().map(|f| Some(&*f.title)));
    let region = dict_col(fs.iter().map(|f| f.region.as_deref()));
    let finding_info = st(vec![
        (utf8("uid"), strs(fs.iter().map(|f| Some(f.id.as_str())))),
        (utf8("title"), title.clone()),
        (
            utf8("desc"),
            dict_col(fs.iter().map(|f| Some(&*f.description))),
        ),
        (
            list_field("types"),
            dict_list(fs.iter().map(|f| f.finding_type.as_str())),
        ),
        (
            Field::new("first_seen_time", DataType::Int64, true),
            first_col.clone(),
        ),
        (
            Field::new("last_seen_time", DataType::Int64, true),
            last_col.clone(),
        ),
        (
            Field::new("analytic", analytic.data_type().clone(), false),
            Arc::new(analytic) as ArrayRef,
        ),
    ]);
    let account = st(vec![(
        utf8("uid"),
        dict_col(fs.iter().map(|f| f.account.as_deref())),
    )]);
    let cloud = st(vec![
        (utf8("provider"), repeated("AWS", n)),
        (utf8("region"), region.clone()),
        (
            Field::new("account", account.data_type().clone(), false),
            Arc::new(account) as ArrayRef,
        ),
    ]);
    let resource = st(vec![
        (
            utf8("uid"),
            strs(fs.iter().map(|f| Some(f.resource.id.as_str()))),
        ),
        (
            utf8("type"),
            dict_col(fs.iter().map(|f| Some(f.resource.kind.as_str()))),
        ),
        (utf8("region"), region),
    ]);
    let sev: Vec<(i32, &str)> = fs.iter().map(|f| ocsf_severity(f.severity)).collect();
    // One JSON text per finding (`{"attack":[…],"samples":[…],"severity_score":2.0}`, the
    // members in that order), put together in one reused buffer. Neighbours share their rule, so
    // the text before the samples (from the rule's shared tags) and the one after them (from the
    // score) are kept while they stay the same.
    let mut unmapped = StringBuilder::with_capacity(n, n * 128);
    let mut json = Vec::with_capacity(256);
    let mut head: Option<(&Arc<[String]>, Vec<u8>)> = None;
    let mut tail: Option<(u64, Vec<u8>)> = None;
    // The samples are each finding's own strings, behind the finding's own list: the list is
    // asked for twice as far ahead as its texts (a sixth of the OCSF writer's time waited on
    // their first bytes).
    const AHEAD: usize = crate::PREFETCH_AHEAD;
    for f in fs.iter().take(2 * AHEAD) {
        crate::prefetch_ptr(f.samples.as_ptr());
    }
    for (j, f) in fs.iter().enumerate() {
        if let Some(far) = fs.get(j + 2 * AHEAD) {
            crate::prefetch_ptr(far.samples.as_ptr());
        }
        if let Some(near) = fs.get(j + AHEAD) {
            near.samples.iter().for_each(|s| crate::prefetch_str(s));
        }
        json.clear();
        let head = match &head {
            Some((a, text)) if Arc::ptr_eq(a, &f.attack) => text,
            _ => {
                let mut text = b"{\"attack\":".to_vec();
                crate::json::json_strs(&mut text, &f.attack);
                text.extend_from_slice(b",\"samples\":");
                &head.insert((&f.attack, text)).1
            }
        };
        json.extend_from_slice(head);
        crate::json::json_strs(&mut json, &f.samples);
        let tail = match &tail {
            Some((bits, text)) if *bits == f.severity.to_bits() => text,
            _ => {
                let mut text = b",\"severity_score\":".to_vec();
                crate::json::json_f64(&mut text, f.severity);
                text.push(b'}');
                &tail.insert((f.severity.to_bits(), text)).1
            }
        };
        json.extend_from_slice(tail);
        // Only valid UTF-8 was written: the findings' strings and ASCII.
        match std::str::from_utf8(&json) {
            Ok(t) => unmapped.append_value(t),
            Err(e) => return Err(perr(e)),
        }
    }
    let cols: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("activity_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))),
        ),
        (
            Field::new("activity_name", DataType::Utf8, false),
            repeated("Create", n),
        ),
        (
            Field::new("category_uid", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 2))),
        ),
        (
            Field::new("category_name", DataType::Utf8, false),
            repeated("Findings", n),
        ),
        (
            Field::new("class_uid", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 2004))),
        ),
        (
            Field::new("class_name", DataType::Utf8, false),
            repeated("Detection Finding", n),
        ),
        (
            Field::new("type_uid", DataType::Int64, false),
            Arc::new(Int64Array::from(consts(n, 200401i64))),
        ),
        (Field::new("time", DataType::Int64, false), time),
        (Field::new("start_time", DataType::Int64, true), first_col),
        (Field::new("end_time", DataType::Int64, true), last_col),
        (
            Field::new("count", DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(
                fs.iter().map(|f| f.count as i64),
            )),
        ),
        (
            Field::new("severity_id", DataType::Int32, false),
            Arc::new(Int32Array::from_iter_values(sev.iter().map(|s| s.0))),
        ),
        (
            Field::new("severity", DataType::Utf8, false),
            dict_col(sev.iter().map(|s| Some(s.1))),
        ),
        (
            Field::new("status_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))),
        ),
        (
            Field::new("status", DataType::Utf8, false),
            repeated("New", n),
        ),
        (Field::new("message", DataType::Utf8, false), title),
        (
            Field::new("metadata", metadata.data_type().clone(), false),
            Arc::new(metadata),
        ),
        (
            Field::new("finding_info", finding_info.data_type().clone(), false),
            Arc::new(finding_info),
        ),
        (
            Field::new("cloud", cloud.data_type().clone(), false),
            Arc::new(cloud),
        ),
        (
            Field::new(
                "resources",
                DataType::List(Arc::new(Field::new(
                    "item",
                    resource.data_type().clone(),
                    true,
                ))),
                false,
            ),
            {
                let field = Arc::new(Field::new("item", resource.data_type().clone(), true));
                let one_each = OffsetBuffer::from_lengths(std::iter::repeat_n(1usize, n));
                Arc::new(
                    ListArray::try_new(field, one_each, Arc::new(resource), None).map_err(perr)?,
                )
            },
        ),
        (
            Field::new("unmapped", DataType::Utf8, false),
            Arc::new(unmapped.finish()),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols
        .into_iter()
        .map(|(f, a)| (f.with_data_type(a.data_type().clone()), a))
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(perr)
}

/// Writes findings as OCSF 1.1.0 Detection Findings (class 2004); returns the writer.
pub fn write_ocsf<W: Write + Send>(w: W, findings: &[Finding]) -> Result<W, OutputError> {
    let (schema, props) = ocsf_layout()?;
    write_with(
        w,
        schema,
        findings,
        props,
        |_, chunk| ocsf_batch(chunk),
        true,
    )
}

/// The OCSF file schema and its writer properties.
fn ocsf_layout() -> Result<(Arc<Schema>, WriterProperties), OutputError> {
    let batch_schema = ocsf_batch(&[])?.schema();
    let schema = Arc::new(Schema::new(
        batch_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(plain(f.data_type())))
            .collect::<Vec<_>>(),
    ));
    let unique = ["finding_info.uid", "resources.list.item.uid", "unmapped"];
    let prose = [
        "message",
        "finding_info.title",
        "finding_info.desc",
        "finding_info.analytic.name",
    ];
    let props = props(&schema, &unique, &prose);
    Ok((schema, props))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use trailhound_detect::finding::Resource;

    /// `n` findings of one rule, each with its own id, resource, times and sample.
    fn findings(n: usize) -> Vec<Finding> {
        let rule = Finding {
            finding_type: "Recon:EC2/Portscan".into(),
            severity: 5.0,
            severity_label: "Medium",
            title: "Port scan".into(),
            description: "An instance probed many ports of one host.".into(),
            account: Some("111122223333".into()),
            region: Some("eu-west-1".into()),
            count: 1,
            rule_id: "th-flow-0002".into(),
            rule_path: "rules/vpcflow/recon/th-flow-0002_portscan.yml".into(),
            attack: ["attack.t1046".into()].into(),
            ..Finding::default()
        };
        (0..n)
            .map(|i| Finding {
                id: format!("{i:032x}"),
                resource: Resource {
                    kind: "Instance".into(),
                    id: format!("i-{i:017x}"),
                },
                first_seen: 1_717_200_000_000 + i as i64 * 1_000,
                last_seen: 1_717_200_000_000 + i as i64 * 2_000,
                samples: vec![format!("eni-1 10.0.0.{}:40000 -> 10.0.1.9:22", i % 250)],
                ..rule.clone()
            })
            .collect()
    }

    /// A column chunk: its dotted path, its encodings, whether it has min/max statistics, and
    /// its compression.
    type Chunk = (String, Vec<Encoding>, bool, Compression);

    /// Each column chunk of the file's first row group.
    fn chunks(file: Vec<u8>) -> Vec<Chunk> {
        let reader = SerializedFileReader::new(bytes::Bytes::from(file));
        let Ok(reader) = reader else {
            panic!("the written file does not read back");
        };
        let group = reader.metadata().row_group(0);
        group
            .columns()
            .iter()
            .map(|c| {
                let stats = c.statistics().is_some_and(|s| s.min_bytes_opt().is_some());
                let path = c.column_path().string();
                (path, c.encodings().collect(), stats, c.compression())
            })
            .collect()
    }

    fn column<'a>(chunks: &'a [Chunk], path: &str) -> &'a Chunk {
        match chunks.iter().find(|c| c.0 == path) {
            Some(c) => c,
            None => panic!("no column {path}"),
        }
    }

    /// `longest_first` runs every task once, on one thread in the order of last time's
    /// durations (longest first, ties by column), and stops at the first error, returning it.
    #[test]
    fn longest_first_runs_each_column_once_longest_first_and_stops_at_an_error() {
        use std::sync::Mutex;
        use std::time::Duration;
        let run = |threads: usize, fail: Option<usize>| {
            let mut took = [3, 9, 1, 9, 0].map(Duration::from_millis);
            let mut cols = [10, 11, 12, 13, 14];
            let mut hand = [(); 5];
            let order = Mutex::new(Vec::new());
            let tasks = cols.iter_mut().zip(hand.iter_mut()).zip(took.iter_mut());
            let result = longest_first(tasks.enumerate(), threads, |j, ((c, _), t)| {
                if let Ok(mut o) = order.lock() {
                    o.push((j, *c));
                }
                *t = Duration::from_millis(100 + j as u64);
                match fail {
                    Some(f) if f == j => Err(OutputError::Parquet(format!("column {j}"))),
                    _ => Ok(()),
                }
            });
            let order = order.into_inner().unwrap_or_default();
            (result.map_err(|e| e.to_string()), order, took)
        };
        let (result, order, took) = run(1, None);
        assert_eq!(result, Ok(()));
        assert_eq!(order, [(1, 11), (3, 13), (0, 10), (2, 12), (4, 14)]);
        assert_eq!(took, [100, 101, 102, 103, 104].map(Duration::from_millis));

        let (result, order, _) = run(1, Some(0));
        assert_eq!(result, Err("writing Parquet: column 0".to_owned()));
        assert_eq!(order, [(1, 11), (3, 13), (0, 10)]);

        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build();
        let Ok(pool) = pool else {
            panic!("no thread pool")
        };
        let (result, mut order, _) = pool.install(|| run(2, None));
        order.sort_unstable();
        assert_eq!(result, Ok(()));
        assert_eq!(order, [(0, 10), (1, 11), (2, 12), (3, 13), (4, 14)]);
    }

    #[test]
    fn columns_are_encoded_as_documented() {
        let fs = findings(300);
        let cases = [
            (
                write_findings(Vec::new(), &fs).map_err(|e| e.to_string()),
                ["id", "resource.id", "samples.list.item"].as_slice(),
                ["first_seen", "last_seen"].as_slice(),
                ["title", "description", "rule_path"].as_slice(),
                ["type", "account"].as_slice(),
            ),
            (
                write_ocsf(Vec::new(), &fs).map_err(|e| e.to_string()),
                ["finding_info.uid", "resources.list.item.uid", "unmapped"].as_slice(),
                ["time", "finding_info.last_seen_time"].as_slice(),
                ["message", "finding_info.desc"].as_slice(),
                ["class_name", "cloud.account.uid"].as_slice(),
            ),
        ];
        for (file, unique, times, prose, plain_dict) in cases {
            let chunks = chunks(file.unwrap_or_default());
            for c in unique {
                let (_, enc, stats, zip) = column(&chunks, c);
                assert!(matches!(zip, Compression::ZSTD(_)), "{c}: {zip:?}");
                assert!(enc.contains(&Encoding::DELTA_BYTE_ARRAY), "{c}: {enc:?}");
                assert!(!enc.contains(&Encoding::RLE_DICTIONARY), "{c}: {enc:?}");
                assert!(!stats, "{c} has statistics");
            }
            for c in times {
                let (_, enc, stats, zip) = column(&chunks, c);
                assert_eq!(*zip, Compression::UNCOMPRESSED, "{c}");
                assert!(enc.contains(&Encoding::DELTA_BINARY_PACKED), "{c}: {enc:?}");
                assert!(stats, "{c} has no statistics");
            }
            for c in prose {
                let (_, enc, stats, _) = column(&chunks, c);
                assert!(enc.contains(&Encoding::RLE_DICTIONARY), "{c}: {enc:?}");
                assert!(!stats, "{c} has statistics");
            }
            for c in plain_dict {
                let (_, enc, stats, _) = column(&chunks, c);
                assert!(enc.contains(&Encoding::RLE_DICTIONARY), "{c}: {enc:?}");
                assert!(stats, "{c} has no statistics");
            }
        }
    }

    /// The dictionary text columns `dictcol` encodes read back as parquet-rs's own encoding of
    /// them does: the same values (nulls too), chunk statistics, page bounds and page rows.
    #[test]
    fn hand_encoded_columns_match_parquet_rs() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::file::metadata::ParquetMetaDataReader;
        use parquet::file::page_index::column_index::ColumnIndexMetaData;
        let base = findings(2000);
        let kinds = [
            "Recon:EC2/Portscan",
            "Discovery:S3/TorIPCaller",
            "Impact:EC2/WinRMBruteForce",
        ];
        let fs: Vec<Finding> = base
            .into_iter()
            .enumerate()
            .map(|(i, f)| Finding {
                // Runs of types, regions and texts of different lengths, some regions missing.
                finding_type: kinds[(i / 150) % 3].into(),
                region: (i % 7 != 3).then(|| ["eu-west-1", "us-east-1"][(i / 90) % 2].into()),
                description: format!("text {}", (i / 400) % 4).into(),
                ..f
            })
            .collect();
        let (o_schema, o_props) = ocsf_layout().unwrap_or_else(|e| panic!("{e}"));
        let f_schema = findings_schema();
        let f_props = props(&f_schema, &["id"], &["description"]);
        let small = |p: WriterProperties| {
            p.into_builder()
                .set_data_page_row_count_limit(300)
                .set_write_batch_size(100)
                .build()
        };
        let write = |ocsf: bool, by_hand: bool| {
            let r = if ocsf {
                let b = |_: &Arc<Schema>, c: &[Finding]| ocsf_batch(c);
                write_with(
                    Vec::new(),
                    o_schema.clone(),
                    &fs,
                    small(o_props.clone()),
                    b,
                    by_hand,
                )
            } else {
                let p = small(f_props.clone());
                write_with(
                    Vec::new(),
                    f_schema.clone(),
                    &fs,
                    p,
                    findings_batch,
                    by_hand,
                )
            };
            bytes::Bytes::from(r.unwrap_or_else(|e| panic!("{e}")))
        };
        for ocsf in [false, true] {
            let (hand, theirs) = (write(ocsf, true), write(ocsf, false));
            let read = |b: &bytes::Bytes| {
                let r = ParquetRecordBatchReaderBuilder::try_new(b.clone())
                    .and_then(|r| r.build())
                    .unwrap_or_else(|e| panic!("{e}"));
                r.map(|b| b.unwrap_or_else(|e| panic!("{e}")))
                    .collect::<Vec<_>>()
            };
            assert_eq!(read(&hand), read(&theirs));
            let meta = |b: &bytes::Bytes| {
                ParquetMetaDataReader::new()
                    .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
                    .parse_and_finish(b)
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            let (mh, mt) = (meta(&hand), meta(&theirs));
            let (rh, rt) = (mh.row_group(0), mt.row_group(0));
            let (ih, it) = (mh.column_index(), mt.column_index());
            let (oh, ot) = (mh.offset_index(), mt.offset_index());
            let mut hand_columns = 0;
            for j in 0..rh.num_columns() {
                let (ch, ct) = (rh.column(j), rt.column(j));
                let name = ch.column_path().string();
                assert_eq!(ch.num_values(), ct.num_values(), "{name}");
                assert_eq!(ch.encodings_mask(), ct.encodings_mask(), "{name}");
                let stats = |c: &parquet::file::metadata::ColumnChunkMetaData| {
                    c.statistics().map(|s| {
                        (
                            s.min_bytes_opt().map(<[u8]>::to_vec),
                            s.max_bytes_opt().map(<[u8]>::to_vec),
                            s.null_count_opt(),
                        )
                    })
                };
                assert_eq!(stats(ch), stats(ct), "{name}");
                let rows =
                    |o: Option<&parquet::file::page_index::offset_index::OffsetIndexMetaData>| {
                        o.map(|o| {
                            o.page_locations()
                                .iter()
                                .map(|p| p.first_row_index)
                                .collect::<Vec<_>>()
                        })
                    };
                let (ph, pt) = (oh.map(|o| &o[0][j]), ot.map(|o| &o[0][j]));
                assert_eq!(rows(ph), rows(pt), "{name}: page rows");
                let bounds = |i: Option<&ColumnIndexMetaData>| match i {
                    Some(all @ ColumnIndexMetaData::BYTE_ARRAY(i)) => Some((
                        i.min_values_iter()
                            .map(|v| v.map(<[u8]>::to_vec))
                            .collect::<Vec<_>>(),
                        i.max_values_iter()
                            .map(|v| v.map(<[u8]>::to_vec))
                            .collect::<Vec<_>>(),
                        all.null_counts().cloned(),
                        all.get_boundary_order(),
                    )),
                    _ => None,
                };
                let (bh, bt) = (ih.map(|i| &i[0][j]), it.map(|i| &i[0][j]));
                if ch.dictionary_page_offset().is_some()
                    && ch.column_type() == parquet::basic::Type::BYTE_ARRAY
                {
                    assert_eq!(bounds(bh), bounds(bt), "{name}: page bounds");
                    hand_columns += 1;
                }
            }
            assert!(hand_columns >= if ocsf { 18 } else { 6 }, "{hand_columns}");
        }
    }

    #[test]
    fn timestamp_columns_are_found_in_structs_too() {
        assert_eq!(
            timestamp_columns(findings_schema().fields(), ""),
            ["first_seen", "last_seen"]
        );
        let ocsf = ocsf_batch(&[])
            .map(|b| timestamp_columns(b.schema().fields(), ""))
            .unwrap_or_default();
        assert_eq!(
            ocsf,
            [
                "time",
                "start_time",
                "end_time",
                "finding_info.first_seen_time",
                "finding_info.last_seen_time"
            ]
        );
    }
}
