//! Readers: decompressed bytes of one object in, records out to a [`RecordSink`], every record
//! accounted for.
//!
//! CloudTrail arrives as `{"Records":[…]}` (S3), as a bare JSON array (Stratus, some exporters),
//! or as JSON lines (CloudTrail Lake, Athena, EventBridge, Logstash); Route 53 Resolver logs as
//! JSON lines (or, in samples, one pretty-printed object); flow logs as header + space-separated
//! lines. [`for_each_json_record`] recognises the JSON shapes once for both JSON kinds; the flow
//! reader splits lines with `memchr` and parses fields into a reused offset buffer.

use trailhound_model::flow::FlowSchema;
use trailhound_model::members::for_each_record_member;
use trailhound_model::time::EpochMillis;
use trailhound_model::{
    CloudTrailRecord, DnsRecord, FlowRecord, LogKind, Members, RecordError, RecordSink,
};

use crate::summary::{ErrorEntry, MAX_RECORD_ERRORS_PER_OBJECT};

/// The records a scan keeps: those whose own time is inside `[since, until]` (inclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest record time kept, epoch milliseconds.
    pub since: Option<EpochMillis>,
    /// Latest record time kept, epoch milliseconds.
    pub until: Option<EpochMillis>,
}

impl TimeRange {
    /// True when `t` is inside the range.
    #[inline]
    pub fn contains(&self, t: EpochMillis) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }

    /// True when `[start, end]` overlaps the range (flow records cover an interval).
    #[inline]
    pub fn overlaps(&self, start: EpochMillis, end: EpochMillis) -> bool {
        self.since.is_none_or(|s| end >= s) && self.until.is_none_or(|u| start <= u)
    }

    /// True when no bound is set.
    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// Where in an object something happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: Option<u64>,
    /// 1-based record number.
    pub record: Option<u64>,
    /// Byte offset.
    pub byte: Option<u64>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(r) = self.record {
            parts.push(format!("record {r}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(b) = self.byte {
            parts.push(format!("byte {b}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Why a whole object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// Stable code.
    pub code: &'static str,
    /// Human description.
    pub message: String,
    /// Where it broke.
    pub position: Position,
}

impl ObjectFailure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ObjectFailure {
            code,
            message: message.into(),
            position: Position::default(),
        }
    }

    pub(crate) fn at(mut self, position: Position) -> Self {
        self.position = position;
        self
    }
}

/// The accounting of one object (or one chunk of a large one).
#[derive(Debug, Clone, Default)]
pub struct ObjectStats {
    /// Records met.
    pub read: u64,
    /// Records handed to the sink.
    pub parsed: u64,
    /// Skipped records by reason.
    pub skipped: Vec<(&'static str, u64)>,
    /// Rejected records by reason.
    pub rejected: Vec<(&'static str, u64)>,
    /// The first few rejections, with position and message.
    pub rejections: Vec<(Position, &'static str, String)>,
    /// Set when the object broke part-way (records before the break are counted).
    pub failure: Option<ObjectFailure>,
}

fn bump(v: &mut Vec<(&'static str, u64)>, reason: &'static str) {
    match v.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, n)) => *n += 1,
        None => v.push((reason, 1)),
    }
}

impl ObjectStats {
    /// Counts a record skipped on purpose.
    pub fn skip(&mut self, reason: &'static str) {
        bump(&mut self.skipped, reason);
    }

    /// Counts a rejected record, keeping the first few for the error list.
    pub fn reject(&mut self, err: &RecordError, pos: Position) {
        bump(&mut self.rejected, err.code());
        if self.rejections.len() < MAX_RECORD_ERRORS_PER_OBJECT {
            self.rejections.push((pos, err.code(), err.to_string()));
        }
    }

    /// Total skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|(_, n)| n).sum()
    }

    /// Total rejected.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// Adds a later chunk's stats to these.
    pub fn absorb(&mut self, o: ObjectStats) {
        self.read += o.read;
        self.parsed += o.parsed;
        for (mine, theirs) in [
            (&mut self.skipped, o.skipped),
            (&mut self.rejected, o.rejected),
        ] {
            for (r, n) in theirs {
                match mine.iter_mut().find(|(x, _)| *x == r) {
                    Some((_, m)) => *m += n,
                    None => mine.push((r, n)),
                }
            }
        }
        for r in o.rejections {
            if self.rejections.len() < MAX_RECORD_ERRORS_PER_OBJECT {
                self.rejections.push(r);
            }
        }
        if self.failure.is_none() {
            self.failure = o.failure;
        }
    }

    /// Error entries for the run summary.
    pub fn error_entries(&self, path: &str, kind: Option<LogKind>) -> Vec<ErrorEntry> {
        let mut out: Vec<ErrorEntry> = self
            .rejections
            .iter()
            .map(|(pos, code, msg)| ErrorEntry {
                path: path.to_owned(),
                reason: format!("{msg} ({pos})"),
                code: (*code).to_owned(),
                scope: "record",
                kind,
                line: pos.line,
                record: pos.record,
                byte: pos.byte,
            })
            .collect();
        if let Some(f) = &self.failure {
            let at = f.position.to_string();
            out.push(ErrorEntry {
                path: path.to_owned(),
                reason: if at.is_empty() {
                    f.message.clone()
                } else {
                    format!("{} (at {at})", f.message)
                },
                code: f.code.to_owned(),
                scope: "object",
                kind,
                line: f.position.line,
                record: f.position.record,
                byte: f.position.byte,
            });
        }
        out
    }
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_at(text: &[u8], offset: usize) -> u64 {
    memchr::memchr_iter(b'\n', &text[..offset.min(text.len())]).count() as u64 + 1
}

fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// Where a JSON record sits in its object.
#[derive(Debug, Clone, Copy)]
pub struct RecordAt {
    /// 0-based index of the record in the object.
    pub index: u64,
    /// Byte offset of the record's text.
    pub offset: usize,
    /// 1-based line, when known without counting (JSON lines).
    pub line: Option<u64>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// Offset of the `[` that opens the `Records` array when `text` begins `{ "Records" : [`.
fn records_prefix(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if !b[i..].starts_with(b"\"Records\"") {
        return None;
    }
    i = skip_ws(b, i + 9);
    if b.get(i) != Some(&b':') {
        return None;
    }
    i = skip_ws(b, i + 1);
    (b.get(i) == Some(&b'[')).then_some(i)
}

fn json_break(
    text: &str,
    base: usize,
    e: &sonic_rs::Error,
    record: Option<u64>,
    what: String,
) -> ObjectFailure {
    let off = (base + e.offset()).min(text.len());
    ObjectFailure::new(
        "invalid-json",
        format!("{what}: {}", trailhound_model::json::short_error(e)),
    )
    .at(Position {
        line: Some(line_at(text.as_bytes(), off)),
        record,
        byte: Some(off as u64),
    })
}

/// One record as the JSON walk hands it over: a line (or document) of text, or the members
/// already captured while walking a `Records` array.
#[derive(Debug)]
// Moved once per record straight into the reader; boxing the members would cost an allocation per
// record on the hot path.
#[allow(clippy::large_enum_variant)]
pub enum JsonItem<'a> {
    /// The record's JSON text.
    Text(&'a str),
    /// The record's top-level members.
    Members(Members<'a>),
}

impl<'a> JsonItem<'a> {
    /// The members, capturing them from text when needed.
    pub fn into_members(self) -> Result<Members<'a>, RecordError> {
        match self {
            JsonItem::Text(t) => Members::parse(t),
            JsonItem::Members(m) => Ok(m),
        }
    }
}

/// Calls `f` with every record of a JSON
/// object in any of the shapes AWS exports use: `{"Records":[…]}`, a bare array, JSON lines, or
/// one object. Returns the failure when the document's structure breaks (records before the break
/// have been delivered).
pub fn for_each_json_record<'a>(
    text: &'a str,
    mut f: impl FnMut(JsonItem<'a>, RecordAt),
) -> Result<(), ObjectFailure> {
    let start = skip_ws(text.as_bytes(), 0);
    let body = &text[start..];
    if body.is_empty() {
        return Ok(());
    }
    if !body.starts_with(['[', '{']) {
        return Err(ObjectFailure::new(
            "invalid-json",
            "content is neither a JSON object nor an array",
        )
        .at(Position {
            line: Some(line_at(text.as_bytes(), start)),
            record: None,
            byte: Some(start as u64),
        }));
    }
    if body.starts_with('[') || records_prefix(text).is_some() {
        return walk_document(text, &mut f).map(|_| ());
    }
    // JSON lines when the first line is a complete JSON value on its own.
    let first_end = memchr::memchr(b'\n', body.as_bytes()).unwrap_or(body.len());
    let first = body[..first_end].trim_end();
    if sonic_rs::from_str::<serde::de::IgnoredAny>(first).is_ok()
        && sonic_rs::get(first, ["Records"]).is_err()
    {
        return json_lines(text, &mut f);
    }
    whole_document(text, body, &mut f)
}

/// One pass over a `{"Records":[…]}` document or a bare array.
fn walk_document<'a>(
    text: &'a str,
    f: &mut impl FnMut(JsonItem<'a>, RecordAt),
) -> Result<bool, ObjectFailure> {
    let mut delivered = 0u64;
    let res = for_each_record_member(text, &mut |m, i| {
        let offset = m.offset_in(text).unwrap_or(0);
        delivered = i + 1;
        f(
            JsonItem::Members(m),
            RecordAt {
                index: i,
                offset,
                line: None,
            },
        );
    });
    res.map_err(|e| {
        json_break(
            text,
            0,
            &e,
            Some(delivered + 1),
            format!("JSON breaks in record {}", delivered + 1),
        )
    })
}

fn whole_document<'a>(
    text: &'a str,
    body: &'a str,
    f: &mut impl FnMut(JsonItem<'a>, RecordAt),
) -> Result<(), ObjectFailure> {
    if walk_document(text, f)? {
        return Ok(());
    }
    // One object that is itself the record (a pretty-printed sample).
    f(
        JsonItem::Text(body.trim_end()),
        RecordAt {
            index: 0,
            offset: offset_in(text, body),
            line: None,
        },
    );
    Ok(())
}

fn json_lines<'a>(
    text: &'a str,
    f: &mut impl FnMut(JsonItem<'a>, RecordAt),
) -> Result<(), ObjectFailure> {
    let b = text.as_bytes();
    let mut pos = 0usize;
    let mut line_no = 0u64;
    let mut index = 0u64;
    while pos < b.len() {
        let end = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
        line_no += 1;
        let line = text[pos..end].trim();
        if !line.is_empty() {
            f(
                JsonItem::Text(line),
                RecordAt {
                    index,
                    offset: pos,
                    line: Some(line_no),
                },
            );
            index += 1;
        }
        pos = end + 1;
    }
    Ok(())
}

/// Reads the records of a JSON object with `parse`, keeps those inside `range` and hands them to
/// `deliver`, counting every record.
fn read_json<'a, R>(
    text: &'a str,
    range: &TimeRange,
    stats: &mut ObjectStats,
    parse: impl Fn(JsonItem<'a>) -> Result<R, RecordError>,
    time: impl Fn(&R) -> EpochMillis,
    mut deliver: impl FnMut(&R),
) {
    let res = for_each_json_record(text, |item, at| {
        stats.read += 1;
        match parse(item) {
            Ok(r) if range.contains(time(&r)) => {
                stats.parsed += 1;
                deliver(&r);
            }
            Ok(_) => stats.skip("out-of-time-range"),
            Err(e) => stats.reject(&e, position_of(text, at)),
        }
    });
    if let Err(f) = res {
        stats.failure = Some(f);
    }
}

/// Reads CloudTrail records from decompressed text.
pub fn read_cloudtrail<S: RecordSink>(
    text: &str,
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) {
    read_json(
        text,
        range,
        stats,
        |item| item.into_members().and_then(CloudTrailRecord::from_members),
        |r| r.time,
        |r| sink.cloudtrail(r),
    );
}

/// Reads Route 53 Resolver records from decompressed text (lines parse typed straight from the
/// text; records met inside a document arrive as captured members).
pub fn read_dns<S: RecordSink>(
    text: &str,
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) {
    read_json(
        text,
        range,
        stats,
        |item| match item {
            JsonItem::Text(t) => DnsRecord::parse(t),
            JsonItem::Members(m) => DnsRecord::from_members(m),
        },
        |r| r.time,
        |r| sink.dns(r),
    );
}

fn position_of(text: &str, at: RecordAt) -> Position {
    Position {
        line: Some(
            at.line
                .unwrap_or_else(|| line_at(text.as_bytes(), at.offset)),
        ),
        record: Some(at.index + 1),
        byte: Some(at.offset as u64),
    }
}

/// Finds a flow file's schema from its first line: a header, or the default v2 format when the
/// first line is v2 data. Returns the schema and whether the first line was a header.
pub fn flow_schema(first_line: &str) -> Result<(FlowSchema, bool), ObjectFailure> {
    if let Some(s) = FlowSchema::parse_header(first_line) {
        return Ok((s, true));
    }
    let line = first_line.trim_end();
    if line.split(' ').count() == 14 && line.starts_with("2 ") {
        return Ok((FlowSchema::default_v2(), false));
    }
    let shown: String = line.chars().take(80).collect();
    Err(ObjectFailure::new(
        "bad-header",
        format!(
            "first line is neither a flow-log header nor a default-format (v2) record: {shown:?}"
        ),
    )
    .at(Position {
        line: Some(1),
        record: None,
        byte: Some(0),
    }))
}

/// Reads flow-log lines from `data` (no header in it), whose first line is line `first_line` of
/// its object and starts at byte `first_byte` of it (positions are reported in the object).
/// `ends` is a reused scratch buffer.
#[allow(clippy::too_many_arguments)]
pub fn read_flow_lines<S: RecordSink>(
    data: &[u8],
    first_line: u64,
    first_byte: u64,
    schema: &FlowSchema,
    ends: &mut Vec<u32>,
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) {
    let mut pos = 0usize;
    let mut line_no = first_line;
    let unbounded = range.is_unbounded();
    // The whole buffer checked as UTF-8 at once (SIMD; std's check of each line was a
    // fiftieth of a flow scan); lines are then cut from it at their newlines. A buffer with an
    // invalid byte is checked line by line, so that only the lines holding one are rejected.
    let text = simdutf8::basic::from_utf8(data).ok();
    while pos < data.len() {
        let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let bytes = &data[pos..end];
        let this_line = line_no;
        let this_pos = pos;
        line_no += 1;
        pos = end + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.is_empty() {
            continue;
        }
        stats.read += 1;
        let at = || Position {
            line: Some(this_line),
            record: None,
            byte: Some(first_byte + this_pos as u64),
        };
        let checked = text.and_then(|t| t.get(this_pos..this_pos + bytes.len()));
        let line = match checked.map_or_else(|| std::str::from_utf8(bytes), Ok) {
            Ok(l) => l,
            Err(e) => {
                stats.reject(
                    &RecordError::Shape("line is not valid UTF-8"),
                    Position {
                        byte: Some(first_byte + (this_pos + e.valid_up_to()) as u64),
                        ..at()
                    },
                );
                continue;
            }
        };
        match FlowRecord::parse(line, schema, ends) {
            Ok(r) => {
                if r.is_placeholder() {
                    stats.skip(
                        if r.log_status == Some(trailhound_model::LogStatus::NoData) {
                            "nodata"
                        } else {
                            "skipdata"
                        },
                    );
                    continue;
                }
                if !unbounded {
                    let s = r.start.or(r.end).map(|t| t * 1000);
                    let e = r.end.or(r.start).map(|t| t * 1000);
                    if let (Some(s), Some(e)) = (s, e)
                        && !range.overlaps(s, e)
                    {
                        stats.skip("out-of-time-range");
                        continue;
                    }
                }
                stats.parsed += 1;
                sink.flow(&r);
            }
            Err(e) => stats.reject(&e, at()),
        }
    }
}

/// Reads a whole flow-log text object: header (or default v2) then lines.
pub fn read_flow<S: RecordSink>(
    data: &[u8],
    range: &TimeRange,
    sink: &mut S,
    stats: &mut ObjectStats,
) {
    let first_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    let first = match std::str::from_utf8(&data[..first_end]) {
        Ok(s) => s,
        Err(_) => {
            stats.failure = Some(
                ObjectFailure::new("bad-header", "first line is not text").at(Position {
                    line: Some(1),
                    record: None,
                    byte: Some(0),
                }),
            );
            return;
        }
    };
    let (schema, header) = match flow_schema(first) {
        Ok(s) => s,
        Err(f) => {
            stats.failure = Some(f);
            return;
        }
    };
    let (body, first_line, first_byte) = flow_body(data, first_end, header);
    let mut ends = Vec::with_capacity(schema.len());
    read_flow_lines(
        body,
        first_line,
        first_byte as u64,
        &schema,
        &mut ends,
        range,
        sink,
        stats,
    );
}

/// A flow object's lines after its header line (which ends at `first_end`), if it has one: the
/// bytes, the first line's number and the first byte's offset in the object.
pub(crate) fn flow_body(data: &[u8], first_end: usize, header: bool) -> (&[u8], u64, usize) {
    if header {
        (data.get(first_end + 1..).unwrap_or(&[]), 2, first_end + 1)
    } else {
        (data, 1, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> (Vec<String>, Result<(), ObjectFailure>) {
        let mut v = Vec::new();
        let r = for_each_json_record(text, |m, _| {
            v.push(
                m.into_members()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_else(|e| e.to_string()),
            )
        });
        (v, r)
    }

    #[test]
    fn json_shapes() {
        let (v, r) = records("{\"Records\": [{\"a\":1}, {\"b\":2}]}");
        assert_eq!((v.len(), r), (2, Ok(())));
        let (v, r) = records("\n [ {\"a\":1},\n{\"b\":[2]} ]\n");
        assert_eq!(v, vec!["a=1", "b=[2]"]);
        assert!(r.is_ok());
        let (v, _) = records("{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}");
        assert_eq!(v.len(), 3);
        let (v, _) = records("{\n  \"a\": 1\n}\n");
        assert_eq!(v.len(), 1);
        let (v, _) = records("{\"x\":1, \"Records\":[{\"a\":1}]}");
        assert_eq!(v, vec!["a=1"]);
        let (v, r) = records("{\"Records\": [{\"a\":1}]}");
        assert_eq!((v.len(), r.is_ok()), (1, true));
        let (v, _) = records("{\"Records\": []}");
        assert!(v.is_empty());
    }

    #[test]
    fn broken_records_document_reports_where() {
        let (v, r) = records("{\"Records\": [{\"a\":1},\n{\"b\":2},\n{\"c\": ");
        let f = r.unwrap_err();
        assert_eq!(v.len(), 2, "records before the break are delivered");
        assert_eq!(f.position.record, Some(3));
        assert_eq!(f.position.line, Some(3));
        let (_, r) = records("{\"Records\": [{\"a\":1}] garbage");
        assert!(r.is_err());
        let (_, r) = records("{\n \"a\": ");
        assert_eq!(r.unwrap_err().code, "invalid-json");
    }

    /// A sink that counts flow records.
    struct Count(u64);

    impl RecordSink for Count {
        fn cloudtrail(&mut self, _: &CloudTrailRecord<'_>) {}
        fn flow(&mut self, _: &FlowRecord<'_>) {
            self.0 += 1;
        }
        fn dns(&mut self, _: &DnsRecord<'_>) {}
    }

    #[test]
    fn flow_header_and_accounting() {
        let data = b"version srcaddr dstaddr start end action log-status\n\
            2 10.0.0.1 10.0.0.2 100 160 ACCEPT OK\n\
            2 - - 100 160 - NODATA\n\
            2 10.0.0.1 10.0.0.2 100 160 ACCEPT\n\
            \n\
            2 10.0.0.1 10.0.0.2 5000 5060 REJECT OK\n";
        let mut c = Count(0);
        let mut st = ObjectStats::default();
        let range = TimeRange {
            since: None,
            until: Some(1_000_000),
        };
        read_flow(data, &range, &mut c, &mut st);
        assert_eq!(c.0, 1);
        assert_eq!(st.read, 4);
        assert_eq!(st.skipped, vec![("nodata", 1), ("out-of-time-range", 1)]);
        assert_eq!(st.rejected, vec![("field-count", 1)]);
        assert_eq!(st.rejections[0].0.line, Some(4));
        assert_eq!(
            st.read,
            st.parsed + st.skipped_total() + st.rejected_total()
        );
    }

    #[test]
    fn a_flow_line_that_is_not_utf8_is_rejected_alone() {
        // The buffer is checked once; with a bad byte in it, each line is checked on its own,
        // and only the line holding the byte is rejected, at that byte.
        let good = b"version srcaddr dstaddr start end action log-status\n\
            2 10.0.0.1 10.0.0.2 100 160 ACCEPT OK\n\
            2 10.0.0.3 10.0.0.4 100 160 ACCEPT OK\r\n\
            2 10.0.0.5 10.0.0.6 100 160 REJECT OK\n";
        let mut bad = good.to_vec();
        let at = bad.iter().position(|&b| b == b'3').unwrap();
        bad[at] = 0xff;
        for (data, parsed) in [(&good[..], 3), (&bad[..], 2)] {
            let mut c = Count(0);
            let mut st = ObjectStats::default();
            read_flow(data, &TimeRange::default(), &mut c, &mut st);
            assert_eq!((st.read, st.parsed, c.0), (3, parsed, parsed));
            if parsed == 2 {
                assert_eq!(st.rejected_total(), 1);
                assert_eq!(st.rejections[0].0.line, Some(3));
                assert_eq!(st.rejections[0].0.byte, Some(at as u64));
            }
        }
    }
}
