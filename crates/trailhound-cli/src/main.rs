//! The `trailhound` command: a thin shell over the `trailhound` library.
//!
//! It parses arguments, owns the terminal (progress bar, human summary on stderr), writes outputs
//! atomically, and turns the run's outcome into an exit code: 0 clean, 1 findings at or above
//! `--fail-on`, 2 input errors.

mod corpus_cmd;
mod rules_cmd;
mod scan_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the scan allocates many small, short-lived strings on every thread (event values,
/// group keys, finding fields); glibc's allocator spent a tenth of a findings-heavy scan in
/// `free`/`malloc_consolidate`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// GuardDuty-style detections over AWS CloudTrail, VPC Flow Logs and Route 53 Resolver logs.
#[derive(Parser, Debug)]
#[command(name = "trailhound", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan log files, folders and S3-export trees and write findings.
    Scan(Box<scan_cmd::ScanArgs>),
    /// List, lint, test and explain rules.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
    },
    /// Synthetic corpora for tests and benchmarks.
    Corpus {
        #[command(subcommand)]
        command: corpus_cmd::CorpusCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan_cmd::run(*args),
        Command::Corpus { command } => corpus_cmd::run(command),
        Command::Rules { command } => rules_cmd::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trailhound: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
