//! Deterministic synthetic corpora of AWS logs, in the real S3 layout and formats, with labelled
//! attacks injected on request.
//!
//! Benchmarks need gigabytes of logs that look like a real account's, and tests need to know what
//! is hidden in them. [`generate`] writes CloudTrail, VPC flow and Route 53 Resolver objects under
//! `AWSLogs/<account>/…` with gzip compression, byte-identical for the same [`CorpusSpec`], plus a
//! `manifest.json` (what was asked and what was written) and, with attacks, a
//! `ground-truth.jsonl` naming every injected scenario and the finding it should raise.
//!
//! ```
//! use trailhound_corpus::{generate, CorpusSpec};
//! use trailhound_model::LogKind;
//! let dir = tempfile::tempdir().unwrap();
//! let spec = CorpusSpec { size: 300_000, kinds: vec![LogKind::Dns], ..CorpusSpec::new(dir.path(), 7) };
//! let report = generate(&spec).unwrap();
//! assert!(report.bytes_uncompressed >= 300_000);
//! assert!(report.objects >= 1);
//! ```

pub mod attacks;
pub mod cloudtrail;
pub mod netlogs;
pub mod rng;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use trailhound_model::LogKind;
use trailhound_model::time::{civil_from_days, parse_timestamp};

use crate::attacks::{GroundTruth, Injection};
use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusSpec {
    /// Output folder (created).
    #[serde(skip)]
    pub out: PathBuf,
    /// Total uncompressed bytes, split over the kinds (CloudTrail 60%, flow 30%, DNS 10% when all
    /// three are asked; evenly by those weights otherwise).
    pub size: u64,
    /// Seed: the same seed and spec give byte-identical files.
    pub seed: u64,
    /// Kinds to write.
    pub kinds: Vec<LogKind>,
    /// Inject the labelled attack scenarios.
    pub attacks: bool,
    /// Uncompressed bytes per object.
    pub object_bytes: u64,
    /// Time of the first object (epoch ms).
    pub start: i64,
}

impl CorpusSpec {
    /// All kinds, 64 MiB, no attacks, 4 MiB objects, starting 2024-06-01.
    pub fn new(out: &Path, seed: u64) -> Self {
        CorpusSpec {
            out: out.to_path_buf(),
            size: 64 << 20,
            seed,
            kinds: LogKind::ALL.to_vec(),
            attacks: false,
            object_bytes: 4 << 20,
            start: parse_timestamp("2024-06-01T00:00:00Z").unwrap_or(0),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CorpusReport {
    /// Objects written.
    pub objects: u64,
    /// Records written.
    pub records: u64,
    /// Uncompressed bytes.
    pub bytes_uncompressed: u64,
    /// Bytes on disk.
    pub bytes_compressed: u64,
    /// Per kind: (objects, records, uncompressed bytes).
    pub by_kind: Vec<(LogKind, u64, u64, u64)>,
    /// Injected scenarios.
    pub ground_truth: Vec<GroundTruth>,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The spec is unusable.
    #[error("invalid corpus spec: {0}")]
    Spec(String),
}

const SLOT_MS: i64 = 5 * 60 * 1000;
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];

fn weight(k: LogKind) -> u64 {
    match k {
        LogKind::CloudTrail => 6,
        LogKind::VpcFlow => 3,
        LogKind::Dns => 1,
    }
}

fn stamp(t: i64) -> (String, String) {
    let days = t.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let mins = t.rem_euclid(86_400_000) / 60_000;
    (
        format!("{y:04}/{m:02}/{d:02}"),
        format!("{y:04}{m:02}{d:02}T{:02}{:02}Z", mins / 60, mins % 60),
    )
}

/// Appends the injected records as lines; returns how many.
fn append_lines(body: &mut String, inject: &[&Injection]) -> u64 {
    let mut n = 0;
    for rec in inject.iter().flat_map(|inj| &inj.records) {
        body.push_str(rec);
        body.push('\n');
        n += 1;
    }
    n
}

struct Written {
    records: u64,
    raw: u64,
    stored: u64,
}

fn write_object(
    spec: &CorpusSpec,
    kind: LogKind,
    i: usize,
    target: u64,
    inject: &[&Injection],
) -> Result<(String, Written), CorpusError> {
    let mut r = Rng::new(&[spec.seed, kind as u64, i as u64]);
    let account = cloudtrail::ACCOUNTS[i % cloudtrail::ACCOUNTS.len()];
    let region = REGIONS[(i / 3) % REGIONS.len()];
    let t0 = spec.start + i as i64 * SLOT_MS;
    let (day, ts) = stamp(t0);
    let mut suffix = String::new();
    r.alnum(16, &mut suffix);
    let mut body = String::with_capacity(target as usize + 64 * 1024);
    let mut records = 0u64;
    let rel = match kind {
        LogKind::CloudTrail => {
            body.push_str("{\"Records\":[");
            let mut first = true;
            while (body.len() as u64) < target {
                if !first {
                    body.push(',');
                }
                first = false;
                let t = t0 + r.below(SLOT_MS as u64) as i64;
                cloudtrail::record(&mut r, account, t, &mut body);
                records += 1;
            }
            for inj in inject {
                for rec in &inj.records {
                    body.push(',');
                    body.push_str(rec);
                    records += 1;
                }
            }
            body.push_str("]}");
            format!(
                "AWSLogs/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{ts}_{}.json.gz",
                suffix.to_ascii_uppercase()
            )
        }
        LogKind::VpcFlow => {
            let custom = i % 6 >= 3;
            body.push_str(if custom {
                netlogs::V5_HEADER
            } else {
                netlogs::V2_HEADER
            });
            body.push('\n');
            while (body.len() as u64) < target {
                let t = t0 + r.below(SLOT_MS as u64) as i64;
                netlogs::flow_line(&mut r, account, region, custom, t, &mut body);
                records += 1;
            }
            records += append_lines(&mut body, inject);
            format!(
                "AWSLogs/{account}/vpcflowlogs/{region}/{day}/{account}_vpcflowlogs_{region}_fl-{:017x}_{ts}_{}.log.gz",
                0xf10_u64 + (i % 6) as u64,
                &suffix[..8]
            )
        }
        LogKind::Dns => {
            let vpc = format!("vpc-{:017x}", 0x0e00 + (i % 4) as u64);
            while (body.len() as u64) < target {
                let t = t0 + r.below(SLOT_MS as u64) as i64;
                netlogs::dns_line(&mut r, account, region, &vpc, t, &mut body);
                records += 1;
            }
            records += append_lines(&mut body, inject);
            format!(
                "AWSLogs/{account}/vpcdnsquerylogs/{vpc}/{day}/{account}_vpcdnsquerylogs_{vpc}_{ts}_{}.log.gz",
                &suffix[..8]
            )
        }
    };
    let path = spec.out.join(&rel);
    let io = |source| CorpusError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut gz = vec![0; c.gzip_compress_bound(body.len())];
    let n = c
        .gzip_compress(body.as_bytes(), &mut gz)
        .map_err(|e| CorpusError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    fs::write(&path, &gz[..n]).map_err(io)?;
    Ok((
        rel,
        Written {
            records,
            raw: body.len() as u64,
            stored: n as u64,
        },
    ))
}

/// Writes the corpus described by `spec`.
pub fn generate(spec: &CorpusSpec) -> Result<CorpusReport, CorpusError> {
    if spec.kinds.is_empty() || spec.size == 0 || spec.object_bytes == 0 {
        return Err(CorpusError::Spec(
            "need at least one kind, a size and an object size".into(),
        ));
    }
    fs::create_dir_all(&spec.out).map_err(|source| CorpusError::Io {
        path: spec.out.clone(),
        source,
    })?;
    let total_w: u64 = spec.kinds.iter().map(|k| weight(*k)).sum();
    let mut plan: Vec<(LogKind, u64, usize)> = Vec::new(); // kind, bytes, objects
    for k in LogKind::ALL {
        if spec.kinds.contains(&k) {
            let bytes = spec.size * weight(k) / total_w;
            plan.push((k, bytes, bytes.div_ceil(spec.object_bytes).max(1) as usize));
        }
    }
    let injections = if spec.attacks {
        attacks::plan(
            spec.seed,
            &plan.iter().map(|(k, _, n)| (*k, *n)).collect::<Vec<_>>(),
            |i| spec.start + i as i64 * SLOT_MS,
            SLOT_MS,
        )
    } else {
        Vec::new()
    };
    let jobs: Vec<(LogKind, usize, u64)> = plan
        .iter()
        .flat_map(|(k, bytes, n)| {
            (0..*n).map(move |i| {
                let done = i as u64 * spec.object_bytes;
                (
                    *k,
                    i,
                    (*bytes - done.min(*bytes)).min(spec.object_bytes).max(1),
                )
            })
        })
        .collect();
    let results: Vec<Result<(LogKind, usize, String, Written), CorpusError>> = jobs
        .par_iter()
        .map(|(k, i, target)| {
            let inj: Vec<&Injection> = injections
                .iter()
                .filter(|x| x.kind == *k && x.object == *i)
                .collect();
            write_object(spec, *k, *i, *target, &inj).map(|(rel, w)| (*k, *i, rel, w))
        })
        .collect();
    let mut report = CorpusReport::default();
    for k in LogKind::ALL {
        if spec.kinds.contains(&k) {
            report.by_kind.push((k, 0, 0, 0));
        }
    }
    let mut truth: Vec<GroundTruth> = injections.iter().map(|x| x.truth.clone()).collect();
    for res in results {
        let (k, i, rel, w) = res?;
        report.objects += 1;
        report.records += w.records;
        report.bytes_uncompressed += w.raw;
        report.bytes_compressed += w.stored;
        if let Some(e) = report.by_kind.iter_mut().find(|e| e.0 == k) {
            e.1 += 1;
            e.2 += w.records;
            e.3 += w.raw;
        }
        for (t, inj) in truth.iter_mut().zip(&injections) {
            if inj.kind == k && inj.object == i {
                t.object = rel.clone();
            }
        }
    }
    report.ground_truth = truth;
    let manifest = serde_json::json!({ "spec": spec, "report": report });
    let write = |name: &str, bytes: Vec<u8>| -> Result<(), CorpusError> {
        let p = spec.out.join(name);
        let mut f = fs::File::create(&p).map_err(|source| CorpusError::Io {
            path: p.clone(),
            source,
        })?;
        f.write_all(&bytes).map_err(|source| CorpusError::Io {
            path: p.clone(),
            source,
        })
    };
    let mut m =
        serde_json::to_vec_pretty(&manifest).map_err(|e| CorpusError::Spec(e.to_string()))?;
    m.push(b'\n');
    write("manifest.json", m)?;
    if spec.attacks {
        let mut lines = Vec::new();
        for t in &report.ground_truth {
            lines.extend(serde_json::to_vec(t).map_err(|e| CorpusError::Spec(e.to_string()))?);
            lines.push(b'\n');
        }
        write("ground-truth.jsonl", lines)?;
    }
    Ok(report)
}
