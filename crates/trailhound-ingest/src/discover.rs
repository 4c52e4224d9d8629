//! Discovery: turn the paths a user gives into a sorted list of objects to read.
//!
//! Folders are walked recursively (hidden folders skipped), files are taken as given. Each object's
//! key is matched against the `AWSLogs/…` layout, so that CloudTrail digests and Insights files are
//! skipped on purpose (and counted), other AWS services are skipped as unknown kinds, and
//! `--since/--until` can prune whole date folders before anything is opened. Objects are sorted by
//! path so every run sees them in the same order.

use std::path::{Path, PathBuf};

use trailhound_model::LogKind;

use crate::layout::{KeyLayout, Service, is_digest_name, is_insight_name, parse_key};
use crate::read::TimeRange;
use crate::summary::{Counters, ErrorEntry, ScanSummary};

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Where it is.
    pub path: PathBuf,
    /// The path as shown in summaries and errors.
    pub display: String,
    /// Size in bytes as stored.
    pub size: u64,
    /// The S3 layout of its key, if it has one.
    pub layout: Option<KeyLayout>,
}

impl Object {
    /// The kind the key says, if any.
    pub fn key_kind(&self) -> Option<LogKind> {
        self.layout.as_ref().and_then(|l| l.service.kind())
    }

    /// When the object was delivered, as its key says (Unix milliseconds), if it says.
    pub fn key_time(&self) -> Option<i64> {
        self.layout.as_ref().and_then(|l| l.time_ms())
    }
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Objects to read, sorted by path.
    pub objects: Vec<Object>,
    /// Objects skipped or failed already (digests, pruned dates, missing paths…).
    pub summary: ScanSummary,
}

const DAY_MS: i64 = 86_400_000;

/// Why a key is skipped before reading, if it is.
fn skip_reason(
    layout: Option<&KeyLayout>,
    name: &str,
    range: &TimeRange,
) -> Option<(&'static str, Option<LogKind>)> {
    if is_digest_name(name) {
        return Some(("cloudtrail-digest", Some(LogKind::CloudTrail)));
    }
    if is_insight_name(name) {
        return Some(("cloudtrail-insight", Some(LogKind::CloudTrail)));
    }
    let l = layout?;
    match &l.service {
        Service::CloudTrailDigest => return Some(("cloudtrail-digest", Some(LogKind::CloudTrail))),
        Service::CloudTrailInsight => {
            return Some(("cloudtrail-insight", Some(LogKind::CloudTrail)));
        }
        Service::Other(_) => return Some(("unknown-kind", None)),
        _ => {}
    }
    // Date folders are delivery dates: a file delivered on day D holds records up to the end of D
    // (and possibly much earlier). Prune only what cannot hold a record in range, with a day of
    // slack for late delivery.
    if let Some(day) = l.day() {
        let start = day * DAY_MS;
        if range.since.is_some_and(|s| start + 2 * DAY_MS <= s)
            || range.until.is_some_and(|u| start > u + DAY_MS)
        {
            return Some(("out-of-time-range", l.service.kind()));
        }
    }
    None
}

/// Finds every object under `inputs`.
///
/// A missing path or an unreadable folder is an error entry (the run goes on); `s3://` URLs are
/// reported as unsupported by this build.
pub fn discover(inputs: &[PathBuf], range: &TimeRange) -> Discovered {
    let mut out = Discovered {
        objects: Vec::new(),
        summary: ScanSummary::new(),
    };
    let mut files: Vec<(PathBuf, u64)> = Vec::new();
    for input in inputs {
        let shown = input.to_string_lossy();
        if shown.starts_with("s3://") {
            fail(&mut out.summary, &shown, "unsupported-input", "s3:// URLs are not read by this build; sync the prefix to a local folder (aws s3 sync) and scan that".into());
            continue;
        }
        match std::fs::metadata(input) {
            Err(e) => fail(
                &mut out.summary,
                &shown,
                "not-found",
                format!("cannot read: {e}"),
            ),
            Ok(m) if m.is_file() => files.push((input.clone(), m.len())),
            Ok(_) => walk(input, &mut files, &mut out.summary),
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    for (path, size) in files {
        let display = path.to_string_lossy().into_owned();
        let key = display.replace('\\', "/");
        let layout = parse_key(&key);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((reason, kind)) = skip_reason(layout.as_ref(), &name, range) {
            out.summary.skip_object(kind, reason);
            continue;
        }
        out.objects.push(Object {
            path,
            display,
            size,
            layout,
        });
    }
    out
}

fn fail(summary: &mut ScanSummary, path: &str, code: &str, reason: String) {
    summary.count(
        None,
        &Counters {
            objects_failed: 1,
            ..Counters::default()
        },
    );
    summary.push_error(ErrorEntry {
        path: path.to_owned(),
        reason,
        code: code.to_owned(),
        scope: "object",
        kind: None,
        line: None,
        record: None,
        byte: None,
    });
}

fn walk(root: &Path, files: &mut Vec<(PathBuf, u64)>, summary: &mut ScanSummary) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                files.push((e.into_path(), len));
            }
            Ok(_) => {}
            Err(e) => {
                let p = e
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| root.to_string_lossy().into_owned());
                fail(summary, &p, "unreadable", format!("cannot read: {e}"));
            }
        }
    }
}
