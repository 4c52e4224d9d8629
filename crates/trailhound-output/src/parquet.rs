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
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use trailhound_detect::finding::Finding;

use crate::OutputError;

/// Rows per record batch.
pub const BATCH_ROWS: usize = 8192;
/// Buffered bytes after which a row group is flushed.
pub const ROW_GROUP_BYTES: usize = 64 << 20;

fn perr(e: impl std::fmt::Display) -> OutputError {
    OutputError::Parquet(e.to_string())
}

fn ms(t: &str) -> Option<i64> {
    trailhound_detect::finding::parse_time(t)
}

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn string_list(rows: impl Iterator<Item = Vec<String>>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        for s in r {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn dict_col<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let d: DictionaryArray<Int32Type> = v.collect();
    Arc::new(d)
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
            Arc::new(StringArray::from_iter_values(
                fs.iter().map(|f| f.resource.kind.as_str()),
            )) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                fs.iter().map(|f| f.resource.id.as_str()),
            )),
        ],
        None,
    );
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            fs.iter().map(|f| f.id.as_str()),
        )),
        dict_col(fs.iter().map(|f| Some(f.finding_type.as_str()))),
        Arc::new(Float64Array::from_iter_values(
            fs.iter().map(|f| f.severity),
        )),
        dict_col(fs.iter().map(|f| Some(f.severity_label))),
        Arc::new(StringArray::from_iter_values(
            fs.iter().map(|f| f.title.as_str()),
        )),
        dict_col(fs.iter().map(|f| Some(f.description.as_str()))),
        dict_col(fs.iter().map(|f| f.account.as_deref())),
        dict_col(fs.iter().map(|f| f.region.as_deref())),
        Arc::new(resource),
        Arc::new(UInt64Array::from_iter_values(fs.iter().map(|f| f.count))),
        Arc::new(
            TimestampMillisecondArray::from_iter(fs.iter().map(|f| ms(&f.first_seen)))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMillisecondArray::from_iter(fs.iter().map(|f| ms(&f.last_seen)))
                .with_timezone("UTC"),
        ),
        dict_col(fs.iter().map(|f| Some(f.rule_id.as_str()))),
        dict_col(fs.iter().map(|f| Some(f.rule_path.as_str()))),
        string_list(fs.iter().map(|f| f.attack.clone())),
        string_list(fs.iter().map(|f| f.samples.clone())),
    ];
    RecordBatch::try_new(schema.clone(), cols).map_err(perr)
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_created_by(format!("trailhound {}", env!("CARGO_PKG_VERSION")))
        .build()
}

fn write_with<W: Write + Send>(
    w: W,
    schema: Arc<Schema>,
    findings: &[Finding],
    batch: impl Fn(&Arc<Schema>, &[Finding]) -> Result<RecordBatch, OutputError> + Sync,
) -> Result<W, OutputError> {
    let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props())).map_err(perr)?;
    // Batches are built on a thread of their own while the writer encodes and compresses the
    // previous ones (the ArrowWriter itself is sequential).
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch, OutputError>>(2);
        let schema = &schema;
        let batch = &batch;
        s.spawn(move || {
            for chunk in findings.chunks(BATCH_ROWS) {
                let b = batch(schema, chunk);
                let failed = b.is_err();
                if tx.send(b).is_err() || failed {
                    break;
                }
            }
        });
        for b in rx {
            writer.write(&b?).map_err(perr)?;
            if writer.in_progress_size() >= ROW_GROUP_BYTES {
                writer.flush().map_err(perr)?;
            }
        }
        Ok::<(), OutputError>(())
    })?;
    writer.into_inner().map_err(perr)
}

/// Writes findings in trailhound's layout; returns the writer.
pub fn write_findings<W: Write + Send>(w: W, findings: &[Finding]) -> Result<W, OutputError> {
    write_with(w, findings_schema(), findings, findings_batch)
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

fn st(fields: Vec<(Field, ArrayRef)>) -> StructArray {
    let (f, a): (Vec<Field>, Vec<ArrayRef>) = fields.into_iter().unzip();
    StructArray::new(Fields::from(f), a, None)
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn strs<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(v.collect::<StringArray>())
}

fn consts<T: Clone>(n: usize, v: T) -> Vec<T> {
    vec![v; n]
}

fn ocsf_batch(fs: &[Finding]) -> Result<RecordBatch, OutputError> {
    let n = fs.len();
    let product = st(vec![
        (
            utf8("name"),
            strs(consts(n, Some("trailhound")).into_iter()),
        ),
        (
            utf8("vendor_name"),
            strs(consts(n, Some("trailhound")).into_iter()),
        ),
        (
            utf8("version"),
            strs(consts(n, Some(env!("CARGO_PKG_VERSION"))).into_iter()),
        ),
    ]);
    let metadata = st(vec![
        (utf8("version"), strs(consts(n, Some("1.1.0")).into_iter())),
        (
            Field::new("product", product.data_type().clone(), false),
            Arc::new(product) as ArrayRef,
        ),
    ]);
    let analytic = st(vec![
        (
            utf8("uid"),
            strs(fs.iter().map(|f| Some(f.rule_id.as_str()))),
        ),
        (
            utf8("name"),
            strs(fs.iter().map(|f| Some(f.rule_path.as_str()))),
        ),
        (
            Field::new("type_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))) as ArrayRef,
        ),
        (utf8("type"), strs(consts(n, Some("Rule")).into_iter())),
    ]);
    let first: Vec<Option<i64>> = fs.iter().map(|f| ms(&f.first_seen)).collect();
    let last: Vec<Option<i64>> = fs.iter().map(|f| ms(&f.last_seen)).collect();
    let finding_info = st(vec![
        (utf8("uid"), strs(fs.iter().map(|f| Some(f.id.as_str())))),
        (
            utf8("title"),
            strs(fs.iter().map(|f| Some(f.title.as_str()))),
        ),
        (
            utf8("desc"),
            strs(fs.iter().map(|f| Some(f.description.as_str()))),
        ),
        (
            list_field("types"),
            string_list(fs.iter().map(|f| vec![f.finding_type.clone()])),
        ),
        (
            Field::new("first_seen_time", DataType::Int64, true),
            Arc::new(Int64Array::from(first.clone())) as ArrayRef,
        ),
        (
            Field::new("last_seen_time", DataType::Int64, true),
            Arc::new(Int64Array::from(last.clone())) as ArrayRef,
        ),
        (
            Field::new("analytic", analytic.data_type().clone(), false),
            Arc::new(analytic) as ArrayRef,
        ),
    ]);
    let account = st(vec![(
        utf8("uid"),
        strs(fs.iter().map(|f| f.account.as_deref())),
    )]);
    let cloud = st(vec![
        (utf8("provider"), strs(consts(n, Some("AWS")).into_iter())),
        (utf8("region"), strs(fs.iter().map(|f| f.region.as_deref()))),
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
            strs(fs.iter().map(|f| Some(f.resource.kind.as_str()))),
        ),
        (utf8("region"), strs(fs.iter().map(|f| f.region.as_deref()))),
    ]);
    let sev: Vec<(i32, &str)> = fs.iter().map(|f| ocsf_severity(f.severity)).collect();
    let unmapped: Vec<String> = fs
        .iter()
        .map(|f| {
            #[derive(serde::Serialize)]
            struct Unmapped<'a> {
                attack: &'a [String],
                samples: &'a [String],
                severity_score: f64,
            }
            sonic_rs::to_string(&Unmapped {
                attack: &f.attack,
                samples: &f.samples,
                severity_score: f.severity,
            })
        })
        .collect::<Result<_, _>>()?;
    let cols: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("activity_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))),
        ),
        (
            Field::new("activity_name", DataType::Utf8, false),
            strs(consts(n, Some("Create")).into_iter()),
        ),
        (
            Field::new("category_uid", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 2))),
        ),
        (
            Field::new("category_name", DataType::Utf8, false),
            strs(consts(n, Some("Findings")).into_iter()),
        ),
        (
            Field::new("class_uid", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 2004))),
        ),
        (
            Field::new("class_name", DataType::Utf8, false),
            strs(consts(n, Some("Detection Finding")).into_iter()),
        ),
        (
            Field::new("type_uid", DataType::Int64, false),
            Arc::new(Int64Array::from(consts(n, 200401i64))),
        ),
        (
            Field::new("time", DataType::Int64, false),
            Arc::new(Int64Array::from(
                last.iter().map(|t| t.unwrap_or(0)).collect::<Vec<_>>(),
            )),
        ),
        (
            Field::new("start_time", DataType::Int64, true),
            Arc::new(Int64Array::from(first)),
        ),
        (
            Field::new("end_time", DataType::Int64, true),
            Arc::new(Int64Array::from(last)),
        ),
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
            strs(sev.iter().map(|s| Some(s.1))),
        ),
        (
            Field::new("status_id", DataType::Int32, false),
            Arc::new(Int32Array::from(consts(n, 1))),
        ),
        (
            Field::new("status", DataType::Utf8, false),
            strs(consts(n, Some("New")).into_iter()),
        ),
        (
            Field::new("message", DataType::Utf8, false),
            strs(fs.iter().map(|f| Some(f.title.as_str()))),
        ),
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
            strs(unmapped.iter().map(|s| Some(s.as_str()))),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(perr)
}

/// Writes findings as OCSF 1.1.0 Detection Findings (class 2004); returns the writer.
pub fn write_ocsf<W: Write + Send>(w: W, findings: &[Finding]) -> Result<W, OutputError> {
    let schema = ocsf_batch(&[])?.schema();
    write_with(w, schema, findings, |_, chunk| ocsf_batch(chunk))
}
