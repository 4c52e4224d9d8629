//! VPC flow logs delivered as Parquet (`FileFormat=parquet`).
//!
//! Columns are the flow fields with `_` for `-`; integers are INT32/INT64, everything else UTF-8,
//! and missing values may be null or `-`. Each row is rendered into a reused line buffer in the
//! file's column order and parsed by the same [`FlowRecord`](trailhound_model::FlowRecord) code as
//! text delivery, so both formats give byte-for-byte the same records to the rules.

use std::fmt::Write as _;
use std::fs::File;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use trailhound_model::{FlowField, FlowSchema, RecordSink};

use crate::read::{ObjectFailure, ObjectStats, Position, TimeRange, read_flow_lines};

fn failure(e: impl std::fmt::Display) -> ObjectFailure {
    ObjectFailure::new("bad-parquet", format!("Parquet: {e}"))
}

/// True when a Parquet file's columns are flow-log fields.
pub fn is_flow_parquet(file: File) -> bool {
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .filter(|f| FlowField::from_name(f.name()).is_some())
                .count()
                >= 2
        })
        .unwrap_or(false)
}

fn cell(col: &dyn Array, row: usize, out: &mut String) -> Result<(), ObjectFailure> {
    if col.is_null(row) {
        out.push('-');
        return Ok(());
    }
    let r = match col.data_type() {
        DataType::Utf8 => {
            let s = col.as_string::<i32>().value(row);
            out.push_str(if s.is_empty() { "-" } else { s });
            Ok(())
        }
        DataType::LargeUtf8 => {
            let s = col.as_string::<i64>().value(row);
            out.push_str(if s.is_empty() { "-" } else { s });
            Ok(())
        }
        DataType::Utf8View => {
            let s = col.as_string_view().value(row);
            out.push_str(if s.is_empty() { "-" } else { s });
            Ok(())
        }
        DataType::Int8 => write!(out, "{}", col.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => write!(out, "{}", col.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => write!(out, "{}", col.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => write!(out, "{}", col.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => write!(out, "{}", col.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => write!(out, "{}", col.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => write!(out, "{}", col.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => write!(out, "{}", col.as_primitive::<UInt64Type>().value(row)),
        other => return Err(failure(format!("unsupported column type {other}"))),
    };
    r.map_err(failure)
}

/// Reads a flow-log Parquet file.
pub fn read_flow_parquet<S: RecordSink>(
    file: File,
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) {
    if let Err(f) = read_inner(file, range, sink, stats) {
        stats.failure = Some(f);
    }
}

fn read_inner<S: RecordSink>(
    file: File,
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) -> Result<(), ObjectFailure> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(failure)?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let schema = FlowSchema::from_names(names.iter().map(String::as_str)).map_err(failure)?;
    let reader = builder.with_batch_size(8192).build().map_err(failure)?;
    let mut line = String::with_capacity(512);
    let mut ends = Vec::with_capacity(schema.len());
    let mut row_no = 0u64;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| {
            failure(e).at(Position {
                record: Some(row_no + 1),
                ..Position::default()
            })
        })?;
        for row in 0..batch.num_rows() {
            row_no += 1;
            line.clear();
            for (i, col) in batch.columns().iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                cell(col.as_ref(), row, &mut line)?;
            }
            let before = stats.rejections.len();
            read_flow_lines(
                line.as_bytes(),
                row_no,
                0,
                &schema,
                &mut ends,
                range,
                sink,
                stats,
            );
            // Rows have no lines: report the row number as the record.
            for r in &mut stats.rejections[before..] {
                r.0 = Position {
                    line: None,
                    record: Some(row_no),
                    byte: None,
                };
            }
        }
    }
    Ok(())
}
