//! Findings out, in the forms people and tools read them: Security Hub's ASFF (single findings
//! or `BatchImportFindings` request bodies, [`asff`]), Parquet for data lakes in trailhound's own
//! layout and as OCSF Detection Findings ([`parquet`]), and a table for a terminal ([`table`]).
//! JSON lines are the findings' own serde form.
//!
//! This crate knows nothing of files or terminals: writers take any `std::io::Write`, and the
//! caller decides about colour and atomic renames.
//!
//! ```
//! use trailhound_detect::finding::{Finding, Resource};
//! let f = Finding {
//!     id: "0123456789abcdef0123456789abcdef".into(),
//!     finding_type: "Stealth:IAMUser/CloudTrailLoggingDisabled".into(),
//!     severity: 2.0, severity_label: "Low",
//!     title: "Trail stopped".into(), description: "A trail was stopped.".into(),
//!     account: Some("111122223333".into()), region: Some("us-east-1".into()),
//!     resource: Resource { kind: "AccessKey".into(), id: "AKIAEXAMPLE".into() },
//!     count: 1, first_seen: 1_704_067_200_000, last_seen: 1_704_067_200_000,
//!     rule_id: "th-ct-0001".into(), rule_path: "rules/x.yml".into(),
//!     attack: Default::default(),
//!     samples: vec![], evidence: vec![],
//! };
//! let asff = trailhound_output::asff::finding(&f, &trailhound_output::asff::AsffOptions::default());
//! assert_eq!(asff["Types"][0], "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled");
//! assert_eq!(asff["Severity"]["Label"], "LOW");
//! ```

pub mod asff;
mod dictcol;
mod json;
pub mod jsonl;
pub mod parquet;
pub mod stream;
pub mod table;

/// An error writing findings.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing failed.
    #[error("writing findings: {0}")]
    Io(#[from] std::io::Error),
    /// Arrow or Parquet refused the data.
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// JSON serialisation failed.
    #[error("serialising findings: {0}")]
    Json(#[from] serde_json::Error),
}

/// How many findings ahead the writers prefetch.
pub(crate) const PREFETCH_AHEAD: usize = 6;

/// The findings of `part` in order, each handed out after the strings of the finding
/// [`PREFETCH_AHEAD`] places further on have been asked for (see [`prefetch`]), and the
/// evidence and sample lists of the one twice as far on (see [`prefetch_lists`]): the string
/// pointers `prefetch` reads are in those lists, so they are in the cache by its turn.
/// `part` holds findings or references to them (the table writer's rows of one severity).
pub(crate) fn prefetching<F: std::borrow::Borrow<trailhound_detect::finding::Finding>>(
    part: &[F],
) -> impl Iterator<Item = &trailhound_detect::finding::Finding> {
    part.iter()
        .take(PREFETCH_AHEAD * 2)
        .for_each(|f| prefetch_lists(f.borrow()));
    part.iter()
        .take(PREFETCH_AHEAD)
        .for_each(|f| prefetch(f.borrow()));
    part.iter().enumerate().map(move |(j, f)| {
        if let Some(far) = part.get(j + PREFETCH_AHEAD * 2) {
            prefetch_lists(far.borrow());
        }
        if let Some(ahead) = part.get(j + PREFETCH_AHEAD) {
            prefetch(ahead.borrow());
        }
        f.borrow()
    })
}

/// Asks the CPU to start loading `f`'s evidence (each a few cache lines of string pointers)
/// and the pointers of its samples: [`prefetch`] reads them to find the strings, and without
/// this it waited for them (perf on ASFF of 98,494 findings: a quarter of serialising was in
/// `prefetch`, on those loads).
#[inline]
fn prefetch_lists(f: &trailhound_detect::finding::Finding) {
    const LINE: usize = 64;
    let evidence = std::mem::size_of_val(f.evidence.as_slice());
    let start = f.evidence.as_ptr().cast::<u8>();
    for at in (0..evidence).step_by(LINE) {
        prefetch_ptr(start.wrapping_add(at));
    }
    prefetch_ptr(f.samples.as_ptr());
}

/// Asks the CPU to start loading the first bytes of `s` (a hint: it changes no result).
#[inline]
pub(crate) fn prefetch_str(s: &str) {
    prefetch_ptr(s.as_ptr());
}

/// Asks the CPU to start loading the cache line at `p` (a hint: it changes no result, and `p`
/// need not point at anything).
#[inline]
pub(crate) fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of x86_64's baseline, and a prefetch reads nothing and never
        // faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The texts of `v` in order, each handed out after the text twice [`PREFETCH_AHEAD`] places
/// further on (one string a row, not a finding's dozen) has been asked for ([`prefetch_str`]):
/// for the Parquet writers, which read one column of the findings at a time, so the
/// finding-wide [`prefetching`] would fetch a finding's every string to use one.
pub(crate) fn texts_ahead<'a>(
    v: Vec<Option<&'a str>>,
) -> impl ExactSizeIterator<Item = Option<&'a str>> + 'a {
    const AHEAD: usize = PREFETCH_AHEAD * 2;
    v.iter().take(AHEAD).flatten().for_each(|s| prefetch_str(s));
    let n = v.len();
    (0..n).map(move |j| {
        if let Some(Some(s)) = v.get(j + AHEAD) {
            prefetch_str(s);
        }
        v.get(j).copied().flatten()
    })
}

/// Asks the CPU to start loading the heap text of `f` into the cache (a hint: it changes no
/// result). 100,000 findings hold a few million small strings; the writers' time went mostly to
/// waiting for the first bytes of each one (perf: a quarter of writing ASFF stalled on the
/// load at the start of `json_str`), so the writers ask for the strings of a finding a few
/// findings before they reach it.
#[inline]
fn prefetch(f: &trailhound_detect::finding::Finding) {
    #[cfg(target_arch = "x86_64")]
    {
        // The rule's texts (title, description, id, path, tags) are shared by its findings and
        // stay in the cache; these are the finding's own.
        for s in [&f.id, &f.finding_type, &f.resource.kind, &f.resource.id] {
            prefetch_str(s);
        }
        for s in [&f.account, &f.region].into_iter().flatten() {
            prefetch_str(s);
        }
        for s in &f.samples {
            prefetch_str(s);
        }
        for e in &f.evidence {
            for s in [
                &e.event_id,
                &e.api,
                &e.service,
                &e.caller,
                &e.user_agent,
                &e.src_addr,
                &e.dst_addr,
                &e.action,
                &e.domain,
                &e.query_type,
            ]
            .into_iter()
            .flatten()
            {
                prefetch_str(s);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = f;
}
