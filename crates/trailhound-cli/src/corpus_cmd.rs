//! `trailhound corpus generate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use trailhound::LogKind;
use trailhound_corpus::{CorpusSpec, generate};

use crate::scan_cmd::parse_size;

#[derive(Subcommand, Debug)]
pub enum CorpusCommand {
    /// Write a deterministic synthetic corpus in the S3 layout.
    Generate {
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Total uncompressed size (e.g. 1GiB, 500MiB).
        #[arg(long, default_value = "64MiB")]
        size: String,
        /// Seed; the same seed and options give byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Kinds to write (comma-separated: cloudtrail, vpcflow, dns).
        #[arg(long, value_delimiter = ',', default_value = "cloudtrail,vpcflow,dns")]
        kinds: Vec<String>,
        /// Inject labelled attack scenarios and write ground-truth.jsonl.
        #[arg(long)]
        attacks: bool,
        /// Uncompressed size of each object.
        #[arg(long, default_value = "4MiB")]
        object_size: String,
    },
}

pub fn run(cmd: CorpusCommand) -> Result<ExitCode> {
    match cmd {
        CorpusCommand::Generate {
            out,
            size,
            seed,
            kinds,
            attacks,
            object_size,
        } => {
            let mut ks = Vec::new();
            for k in &kinds {
                ks.push(match k.trim() {
                    "cloudtrail" => LogKind::CloudTrail,
                    "vpcflow" | "flow" => LogKind::VpcFlow,
                    "dns" => LogKind::Dns,
                    other => bail!("unknown kind {other:?} (expected cloudtrail, vpcflow or dns)"),
                });
            }
            let spec = CorpusSpec {
                size: parse_size(&size)?,
                kinds: ks,
                attacks,
                object_bytes: parse_size(&object_size)?,
                ..CorpusSpec::new(&out, seed)
            };
            let report = generate(&spec)?;
            eprintln!(
                "trailhound: wrote {} objects, {} records, {:.1} MiB uncompressed ({:.1} MiB gzip) to {}{}",
                report.objects,
                report.records,
                report.bytes_uncompressed as f64 / 1048576.0,
                report.bytes_compressed as f64 / 1048576.0,
                out.display(),
                if attacks {
                    format!(", {} attack scenarios", report.ground_truth.len())
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
