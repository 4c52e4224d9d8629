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

/// mimalloc's `purge_delay`: the Rust bindings name no constant for it; in the v3 header's
/// `mi_option_e` it comes right before `use_numa_nodes` (15 and 16).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

/// After the scan, before the findings are written: no more purging at all (a delay of -1). The
/// process ends once the findings are out, so giving freed pages back to the system then only
/// costs time: the purges the scan had scheduled 3 ms ahead were still running during the write
/// (`madvise` was 4 % of the samples of writing `asff-batches` for 98,494 findings), and each
/// buffer the writers allocate after a purge meets freshly zeroed pages again (page faults were a
/// tenth of writing OCSF Parquet at a delay of 0). Memory does not grow by it: the writers' buffers
/// reuse the freed pages (peak RSS of that scan 279–293 MiB either way). Not when
/// `MIMALLOC_PURGE_DELAY` is set.
pub(crate) fn purge_later() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain store of a process-wide option; the scan's threads are idle here and
        // mimalloc reads the option whenever it next schedules or runs a purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// How long mimalloc keeps freed memory during the scan before giving it back (ms).
///
/// Not a second (its default): windows closed between batches free their buckets in bulk, and
/// the next batch's state would otherwise be placed in fresh pages while the freed ones wait.
/// Not 0 either: purging each page the moment it empties made a resolver scan spend a fifth of
/// its time in `madvise` (13,000 calls on `dns-200m`; 0.27 s of system time against 0.07 s at
/// 3 ms, same peak RSS), as pages of small objects emptied and filled again within a batch.
/// Four alternating rounds per corpus, 0 vs 3 ms: resolver wall 0.82–0.89 → 0.68–0.71 s;
/// CloudTrail and flow within noise; peak RSS equal but for flow, 122–124 → 124–126 MiB.
const SCAN_PURGE_DELAY_MS: std::ffi::c_long = 3;

fn main() -> ExitCode {
    // See `SCAN_PURGE_DELAY_MS`. `MIMALLOC_PURGE_DELAY` still overrides it.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide option before any other thread is started; mimalloc reads
        // it whenever it schedules a purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, SCAN_PURGE_DELAY_MS) };
    }
    // No transparent huge pages (what `MIMALLOC_ALLOW_THP=0` does, which also still wins): with
    // memory handed back soon after it is freed (at once, when this was measured), each reuse of a freed region faulted in and zeroed a whole
    // 2 MiB page, and the pages held more than was used. Two alternating runs of the bench
    // corpora, peak RSS: CloudTrail 1 GiB 131–135 → 104–109 MiB, resolver 161–165 → 144 MiB,
    // flow 346–347 → 309 MiB, with no slower scan (less system time).
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this
        // process's memory map; it cannot touch any memory of ours.
        unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn purge_delay_option_is_the_one_we_set() {
        // the default purge delay of the mimalloc this build links is 1000 ms (its `options.c`); a wrong option number would read
        // another option's default (use_numa_nodes 0, disallow_os_alloc 0, …).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an option.
            let v = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
            assert_eq!(v, 1000);
        }
    }
}
