//! Dictionary-encoded text columns of the Parquet writers, encoded here instead of by parquet-rs.
//!
//! Why this exists: parquet-rs writes an Arrow dictionary column value by value. For every row it
//! looks the row's text up in a dictionary of its own again (hashing the text and comparing it
//! with the stored one) and compares it with the column's bounds, although the Arrow column
//! already says which dictionary entry each row is. Findings are sorted by type, so those texts
//! (descriptions, titles, rule paths, constants) repeat in long runs: in OCSF Parquet, where
//! eighteen such columns repeat on every row, that re-interning was about a third of the writer's
//! time. Here a column chunk is put together from the keys alone: each batch's small dictionary is
//! mapped onto the chunk's once, the rows become runs of keys, and the chunk is one dictionary
//! page (`PLAIN`) and data pages of `RLE_DICTIONARY` keys (all runs), compressed with the column's
//! codec and handed to the row group with `append_column`, exactly where parquet-rs would have
//! put its own chunk. Readers see the same values, types and encodings.
//!
//! Only the shape the writers use is taken here: a `Dictionary(Int32, Utf8)` leaf outside any list,
//! whose parents are non-null structs, with dictionary encoding on and zstd or no compression.
//! Every other column stays with parquet-rs ([`DictColumn::plan`] says which).

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType, Type};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::{ColumnChunkMetaData, ColumnIndexBuilder};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::OutputError;
use crate::parquet::perr;

/// Statistics longer than this are left out (parquet-rs's default truncation length; a chunk's
/// bounds are short constants and labels, or nothing for prose columns).
const MAX_STAT_LEN: usize = 64;

/// One dictionary text column of a row group, gathered batch by batch, then encoded.
#[derive(Debug)]
pub(crate) struct DictColumn {
    descr: ColumnDescPtr,
    /// Child indices from the batch's column down to the leaf (the first is the column).
    path: Vec<usize>,
    nullable: bool,
    zstd_level: Option<i32>,
    statistics: bool,
    /// Page bounds too (the column index), as parquet-rs writes them by default.
    page_index: bool,
    page_rows: usize,
    /// The chunk's dictionary, in order of first appearance.
    values: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// The rows as runs: `(key, rows)`, a null as `u32::MAX`.
    runs: Vec<(u32, u32)>,
    rows: usize,
    nulls: u64,
}

impl DictColumn {
    /// For each leaf column of `schema` (in Parquet's leaf order), a hand encoder when the leaf
    /// has the shape taken here, else `None` (parquet-rs writes it). `schema` is the schema of the
    /// record batches; `descrs` the file's leaf columns.
    pub(crate) fn plan(
        schema: &Schema,
        descrs: &[ColumnDescPtr],
        props: &WriterProperties,
    ) -> Vec<Option<DictColumn>> {
        let mut out = Vec::with_capacity(descrs.len());
        let mut known = true;
        for (i, f) in schema.fields().iter().enumerate() {
            known &= leaves(f, vec![i], true, false, &mut out);
        }
        if !known || out.len() != descrs.len() {
            // Not the shape expected: leave every column to parquet-rs.
            return descrs.iter().map(|_| None).collect();
        }
        out.into_iter()
            .zip(descrs)
            .map(|(leaf, descr)| {
                let (path, nullable) = leaf?;
                let col = descr.path();
                let zstd_level = match props.compression(col) {
                    Compression::ZSTD(l) => Some(l.compression_level()),
                    Compression::UNCOMPRESSED => None,
                    _ => return None,
                };
                let fits = descr.max_rep_level() == 0
                    && descr.max_def_level() == i16::from(nullable)
                    && props.dictionary_enabled(col)
                    && props.bloom_filter_properties(col).is_none();
                fits.then(|| DictColumn {
                    descr: descr.clone(),
                    path,
                    nullable,
                    zstd_level,
                    statistics: props.statistics_enabled(col) != EnabledStatistics::None,
                    page_index: props.statistics_enabled(col) == EnabledStatistics::Page,
                    page_rows: props.data_page_row_count_limit().max(1),
                    values: Vec::new(),
                    index: HashMap::new(),
                    runs: Vec::new(),
                    rows: 0,
                    nulls: 0,
                })
            })
            .collect()
    }

    /// Adds the rows of `batch`.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        let mut array: &ArrayRef = batch
            .columns()
            .get(self.path[0])
            .ok_or_else(|| perr("dictionary column missing from the batch"))?;
        for &child in &self.path[1..] {
            array = array
                .as_struct_opt()
                .and_then(|s| s.columns().get(child))
                .ok_or_else(|| perr("dictionary column missing from the batch"))?;
        }
        let dict = array
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(|| perr("dictionary column of another type in the batch"))?;
        let texts = dict
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| perr("dictionary of other values than text in the batch"))?;
        // The batch's dictionary onto the chunk's: once per distinct text, not per row.
        let mut remap = Vec::with_capacity(texts.len());
        for t in texts.iter() {
            let t = t.unwrap_or_default();
            let k = match self.index.get(t) {
                Some(&k) => k,
                None => {
                    let k = u32::try_from(self.values.len())
                        .map_err(|_| perr("too many distinct values in a dictionary column"))?;
                    self.values.push(t.into());
                    self.index.insert(t.into(), k);
                    k
                }
            };
            remap.push(k);
        }
        let nulls = dict.logical_nulls();
        for (i, &key) in dict.keys().values().iter().enumerate() {
            let k = if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                self.nulls += 1;
                u32::MAX
            } else {
                usize::try_from(key)
                    .ok()
                    .and_then(|key| remap.get(key).copied())
                    .ok_or_else(|| perr("dictionary key out of range in the batch"))?
            };
            match self.runs.last_mut() {
                Some((last, n)) if *last == k => *n += 1,
                _ => self.runs.push((k, 1)),
            }
        }
        self.rows += dict.len();
        Ok(())
    }

    /// The column chunk of the rows pushed so far (bytes from offset 0, and what the row group
    /// needs to splice them in); the column is then empty for the next row group.
    pub(crate) fn finish(&mut self) -> Result<(Bytes, ColumnCloseResult), OutputError> {
        let mut compressor = match self.zstd_level {
            Some(l) => Some(zstd::bulk::Compressor::new(l).map_err(perr)?),
            None => None,
        };
        let mut compress = |buf: Vec<u8>| -> Result<(Bytes, usize), OutputError> {
            let len = buf.len();
            Ok(match &mut compressor {
                Some(c) => (Bytes::from(c.compress(&buf).map_err(perr)?), len),
                None => (Bytes::from(buf), len),
            })
        };
        let mut sink = TrackedWrite::new(Vec::new());
        let mut locations = Vec::new();
        // Page bounds, as long as every text is short enough to be one (else no column index).
        let short = self.values.iter().all(|v| v.len() <= MAX_STAT_LEN);
        let mut index =
            (self.page_index && short).then(|| ColumnIndexBuilder::new(Type::BYTE_ARRAY));
        let mut bounds: Vec<(Option<&str>, Option<&str>)> = Vec::new();
        let (mut compressed, mut uncompressed, mut data_offset) = (0i64, 0i64, None);
        {
            let mut pages = SerializedPageWriter::new(&mut sink);
            let mut dict = Vec::with_capacity(self.values.iter().map(|v| v.len() + 4).sum());
            for v in &self.values {
                let len = u32::try_from(v.len()).map_err(perr)?;
                dict.extend_from_slice(&len.to_le_bytes());
                dict.extend_from_slice(v.as_bytes());
            }
            let (buf, size) = compress(dict)?;
            let page = Page::DictionaryPage {
                buf,
                num_values: u32::try_from(self.values.len()).map_err(perr)?,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = pages
                .write_page(CompressedPage::new(page, size))
                .map_err(perr)?;
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;

            let width = bit_width(self.values.len());
            let mut first_row = 0usize;
            for page_runs in split_runs(&self.runs, self.page_rows) {
                let rows: usize = page_runs.iter().map(|&(_, n)| n as usize).sum();
                let mut buf = Vec::new();
                if self.nullable {
                    let mut levels = Vec::new();
                    let mut last: Option<(u32, u32)> = None;
                    for &(k, n) in &page_runs {
                        let level = u32::from(k != u32::MAX);
                        match &mut last {
                            Some((l, m)) if *l == level => *m += n,
                            _ => {
                                if let Some((l, m)) = last {
                                    rle_run(&mut levels, l, m, 1);
                                }
                                last = Some((level, n));
                            }
                        }
                    }
                    if let Some((l, m)) = last {
                        rle_run(&mut levels, l, m, 1);
                    }
                    let len = u32::try_from(levels.len()).map_err(perr)?;
                    buf.extend_from_slice(&len.to_le_bytes());
                    buf.extend_from_slice(&levels);
                }
                buf.push(width);
                for &(k, n) in page_runs.iter().filter(|(k, _)| *k != u32::MAX) {
                    rle_run(&mut buf, k, n, width);
                }
                if let Some(index) = &mut index {
                    let (mut lo, mut hi): (Option<&str>, Option<&str>) = (None, None);
                    let mut nulls = 0i64;
                    for &(k, n) in &page_runs {
                        match self.values.get(k as usize) {
                            Some(v) => {
                                lo = Some(lo.map_or(&**v, |l| l.min(&**v)));
                                hi = Some(hi.map_or(&**v, |h| h.max(&**v)));
                            }
                            None => nulls += i64::from(n),
                        }
                    }
                    let bytes =
                        |v: Option<&str>| v.map(|v| v.as_bytes().to_vec()).unwrap_or_default();
                    index.append(lo.is_none(), bytes(lo), bytes(hi), nulls);
                    bounds.push((lo, hi));
                }
                let (buf, size) = compress(buf)?;
                let page = Page::DataPage {
                    buf,
                    num_values: u32::try_from(rows).map_err(perr)?,
                    encoding: Encoding::RLE_DICTIONARY,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let spec = pages
                    .write_page(CompressedPage::new(page, size))
                    .map_err(perr)?;
                debug_assert_eq!(spec.page_type, PageType::DATA_PAGE);
                let offset = i64::try_from(spec.offset).map_err(perr)?;
                data_offset.get_or_insert(offset);
                locations.push(PageLocation {
                    offset,
                    compressed_page_size: i32::try_from(spec.compressed_size).map_err(perr)?,
                    first_row_index: i64::try_from(first_row).map_err(perr)?,
                });
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
                first_row += rows;
            }
            pages.close().map_err(perr)?;
        }
        let column_index = match index {
            Some(mut index) => {
                index.set_boundary_order(boundary_order(&bounds));
                Some(index.build().map_err(perr)?)
            }
            None => None,
        };
        let bytes_written = sink.bytes_written() as u64;
        let bytes = Bytes::from(sink.into_inner().map_err(perr)?);

        let encodings = [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
        let rows = i64::try_from(self.rows).map_err(perr)?;
        let mut meta = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(match self.zstd_level {
                Some(l) => Compression::ZSTD(parquet::basic::ZstdLevel::try_new(l).map_err(perr)?),
                None => Compression::UNCOMPRESSED,
            })
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_total_compressed_size(compressed)
            .set_total_uncompressed_size(uncompressed)
            .set_num_values(rows)
            .set_data_page_offset(data_offset.unwrap_or(0))
            .set_dictionary_page_offset(Some(0));
        if self.statistics {
            let present = self.runs.iter().any(|&(k, _)| k != u32::MAX);
            let min = self.values.iter().min().filter(|_| present);
            let max = self.values.iter().max().filter(|_| present);
            let short = |v: &Option<&Box<str>>| v.is_none_or(|v| v.len() <= MAX_STAT_LEN);
            if short(&min) && short(&max) {
                let b = |v: Option<&Box<str>>| v.map(|v| ByteArray::from(v.as_bytes().to_vec()));
                meta = meta.set_statistics(Statistics::new(
                    b(min),
                    b(max),
                    None,
                    Some(self.nulls),
                    false,
                ));
            }
        }
        let close = ColumnCloseResult {
            bytes_written,
            rows_written: self.rows as u64,
            metadata: meta.build().map_err(perr)?,
            bloom_filter: None,
            column_index,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: None,
            }),
        };
        self.values.clear();
        self.index.clear();
        self.runs.clear();
        (self.rows, self.nulls) = (0, 0);
        Ok((bytes, close))
    }
}

/// The leaves under `f` (path of child indices, leaf nullable) where the shape is taken, `None`
/// for every other leaf; `direct` is false below a nullable struct, `in_list` below a list.
/// False for a type whose leaves are not counted here.
fn leaves(
    f: &Field,
    path: Vec<usize>,
    direct: bool,
    in_list: bool,
    out: &mut Vec<Option<(Vec<usize>, bool)>>,
) -> bool {
    match f.data_type() {
        DataType::Struct(fs) => {
            let direct = direct && !f.is_nullable();
            for (i, c) in fs.iter().enumerate() {
                let mut p = path.clone();
                p.push(i);
                if !leaves(c, p, direct, in_list, out) {
                    return false;
                }
            }
        }
        DataType::List(c) | DataType::LargeList(c) => return leaves(c, path, false, true, out),
        DataType::Dictionary(k, v)
            if **k == DataType::Int32 && **v == DataType::Utf8 && direct && !in_list =>
        {
            out.push(Some((path, f.is_nullable())));
        }
        // Not used by the writers, and not one leaf each: the plan gives up (see `plan`).
        DataType::Map(..) | DataType::FixedSizeList(..) | DataType::LargeListView(..) => {
            return false;
        }
        _ => out.push(None),
    }
    true
}

/// How the pages' bounds are ordered (null pages left out), as parquet-rs tells it.
fn boundary_order(bounds: &[(Option<&str>, Option<&str>)]) -> BoundaryOrder {
    let pages: Vec<(&str, &str)> = bounds
        .iter()
        .filter_map(|&(lo, hi)| Some((lo?, hi?)))
        .collect();
    let pairs = || pages.windows(2).map(|w| (w[0], w[1]));
    if pairs().all(|(a, b)| a.0 <= b.0 && a.1 <= b.1) {
        BoundaryOrder::ASCENDING
    } else if pairs().all(|(a, b)| a.0 >= b.0 && a.1 >= b.1) {
        BoundaryOrder::DESCENDING
    } else {
        BoundaryOrder::UNORDERED
    }
}

/// Bits per key for `n` dictionary entries (at least 1).
fn bit_width(n: usize) -> u8 {
    let max = n.saturating_sub(1) as u64;
    (64 - max.leading_zeros()).max(1) as u8
}

/// One RLE run of the RLE/bit-packing hybrid: `n` times `v`, `width` bits wide.
fn rle_run(out: &mut Vec<u8>, v: u32, n: u32, width: u8) {
    let mut h = u64::from(n) << 1;
    while h >= 0x80 {
        out.push((h as u8) | 0x80);
        h >>= 7;
    }
    out.push(h as u8);
    let bytes = usize::from(width).div_ceil(8);
    out.extend_from_slice(&v.to_le_bytes()[..bytes]);
}

/// `runs` cut into pages of at most `rows` rows.
fn split_runs(runs: &[(u32, u32)], rows: usize) -> Vec<Vec<(u32, u32)>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut room = rows;
    for &(k, mut n) in runs {
        while n > 0 {
            let take = n.min(u32::try_from(room).unwrap_or(u32::MAX));
            page.push((k, take));
            n -= take;
            room -= take as usize;
            if room == 0 {
                pages.push(std::mem::take(&mut page));
                room = rows;
            }
        }
    }
    if !page.is_empty() {
        pages.push(page);
    }
    pages
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A chunk holds the rows pushed since the last one: a second row group starts empty.
    #[test]
    fn each_chunk_holds_its_own_rows() {
        use arrow_array::DictionaryArray;
        use arrow_schema::Field;
        let field = Field::new(
            "region",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        );
        let schema = Arc::new(Schema::new(vec![field]));
        let batch = |v: Vec<Option<&str>>| {
            let a: DictionaryArray<Int32Type> = v.into_iter().collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(a) as ArrayRef])
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let file_schema = Schema::new(vec![Field::new("region", DataType::Utf8, true)]);
        let descr = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&file_schema)
            .unwrap_or_else(|e| panic!("{e}"));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(Default::default()))
            .build();
        let mut plan = DictColumn::plan(&schema, descr.columns(), &props);
        let Some(Some(col)) = plan.get_mut(0) else {
            panic!("a nullable dictionary text column is encoded by hand");
        };
        let mut chunk = |b: RecordBatch| {
            col.push(&b).unwrap_or_else(|e| panic!("{e}"));
            let (_, close) = col.finish().unwrap_or_else(|e| panic!("{e}"));
            let s = close.metadata.statistics().cloned();
            let s = s.map(|s| (s.min_bytes_opt().map(<[u8]>::to_vec), s.null_count_opt()));
            (close.rows_written, s)
        };
        let first = chunk(batch(vec![Some("us-east-1"), None, Some("eu-west-1")]));
        let second = chunk(batch(vec![Some("us-west-2"), Some("us-west-2")]));
        assert_eq!(first, (3, Some((Some(b"eu-west-1".to_vec()), Some(1)))));
        assert_eq!(second, (2, Some((Some(b"us-west-2".to_vec()), Some(0)))));
    }

    #[test]
    fn runs_are_cut_at_page_rows() {
        let pages = split_runs(&[(0, 5), (1, 3), (2, 9)], 4);
        let rows: Vec<u32> = pages.iter().map(|p| p.iter().map(|r| r.1).sum()).collect();
        assert_eq!(rows, vec![4, 4, 4, 4, 1]);
        assert_eq!(pages[1], vec![(0, 1), (1, 3)]);
    }

    #[test]
    fn widths_and_runs_follow_the_hybrid_encoding() {
        assert_eq!(
            (bit_width(1), bit_width(2), bit_width(3), bit_width(256)),
            (1, 1, 2, 8)
        );
        assert_eq!(bit_width(257), 9);
        let mut out = Vec::new();
        rle_run(&mut out, 5, 300, 9);
        // 300 << 1 = 600 = 0b100_1011000 as a ULEB128: 0xd8 0x04; then two bytes of value.
        assert_eq!(out, vec![0xd8, 0x04, 5, 0]);
    }
}
