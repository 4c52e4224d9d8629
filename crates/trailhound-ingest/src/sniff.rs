//! Content sniffing: which log kind a file holds when its key does not say.
//!
//! Files outside the S3 layout (a download, an export, a test sample) are classified from their
//! first 64 KiB: JSON with CloudTrail members (`eventVersion`, `eventSource`, `eventName`,
//! `Records`) or resolver members (`query_name`), whichever comes first; or text whose first line is
//! a flow-log header or a default-format flow record.

use trailhound_model::LogKind;

use crate::read::flow_schema;

/// How much of a file is looked at.
pub const SNIFF_BYTES: usize = 64 * 1024;

const CLOUDTRAIL_KEYS: &[&str] = &[
    "Records",
    "eventVersion",
    "eventSource",
    "eventName",
    "eventTime",
];
const DNS_KEYS: &[&str] = &["query_name", "query_timestamp"];

/// The kind a JSON object's top-level keys say (an EventBridge envelope is looked into).
fn kind_of_object(obj: &str) -> Option<LogKind> {
    let mut envelope_detail = None;
    let mut is_envelope = false;
    for kv in sonic_rs::to_object_iter(obj) {
        let (k, v) = kv.ok()?;
        let k = k.as_ref();
        if CLOUDTRAIL_KEYS.contains(&k) {
            return Some(LogKind::CloudTrail);
        }
        if DNS_KEYS.contains(&k) {
            return Some(LogKind::Dns);
        }
        if k == "detail-type" {
            is_envelope = true;
        }
        if k == "detail" {
            envelope_detail = Some(v.as_raw_str().to_owned());
        }
    }
    match (is_envelope, envelope_detail) {
        (true, Some(d)) => kind_of_object(&d).filter(|k| *k == LogKind::CloudTrail),
        _ => None,
    }
}

/// Guesses the kind of (decompressed) content from its first record's top-level fields, or from
/// its first line for flow logs.
///
/// ```
/// use trailhound_ingest::sniff::sniff;
/// use trailhound_model::LogKind;
/// assert_eq!(sniff(br#"{"Records":[{"eventVersion":"1.08"}]}"#), Some(LogKind::CloudTrail));
/// assert_eq!(sniff(br#"[{"eventName":"X"}]"#), Some(LogKind::CloudTrail));
/// assert_eq!(sniff(br#"{"version":"1.100000","query_name":"a."}"#), Some(LogKind::Dns));
/// assert_eq!(sniff(b"version account-id interface-id srcaddr\n"), Some(LogKind::VpcFlow));
/// assert_eq!(sniff(br#"{"rule":"x","log":{"eventName":"X"}}"#), None, "nested is not enough");
/// assert_eq!(sniff(b"# A README\n"), None);
/// ```
pub fn sniff(data: &[u8]) -> Option<LogKind> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let first = data.iter().position(|b| !b.is_ascii_whitespace())?;
    let body = &data[first..];
    match body[0] {
        b'{' => {
            // One record per line, or one (possibly huge or pretty-printed) document.
            let line_end = memchr::memchr(b'\n', body).unwrap_or(body.len());
            let line = std::str::from_utf8(&body[..line_end]).ok()?;
            if sonic_rs::from_str::<serde::de::IgnoredAny>(line).is_ok() {
                return kind_of_object(line);
            }
            let head = &body[..body.len().min(SNIFF_BYTES)];
            // A pretty-printed or truncated document: look at the keys that open it.
            let text = std::str::from_utf8(head)
                .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
                .ok()?;
            top_level_keys_kind(text)
        }
        b'[' => {
            let text = std::str::from_utf8(body).ok()?;
            let el = sonic_rs::to_array_iter(text).next()?.ok()?;
            kind_of_object(el.as_raw_str())
        }
        _ => {
            let head = &body[..body.len().min(SNIFF_BYTES)];
            let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
            let line = std::str::from_utf8(&head[..end]).ok()?;
            flow_schema(line).ok().map(|_| LogKind::VpcFlow)
        }
    }
}

/// Scans the keys at depth 1 of a (possibly truncated) JSON object text.
fn top_level_keys_kind(text: &str) -> Option<LogKind> {
    let b = text.as_bytes();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let key = text.get(start..i.min(b.len()))?;
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if depth == 1 && b.get(j) == Some(&b':') {
                    if CLOUDTRAIL_KEYS.contains(&key) {
                        return Some(LogKind::CloudTrail);
                    }
                    if DNS_KEYS.contains(&key) {
                        return Some(LogKind::Dns);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// True when a file's name says it is meant to be a log (so unreadable content is a failure, not
/// an unknown kind).
pub fn looks_like_log_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        ".json",
        ".json.gz",
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".ndjson.gz",
        ".log",
        ".log.gz",
        ".gz",
        ".parquet",
    ]
    .iter()
    .any(|s| n.ends_with(s))
}
