//! `trailhound scan`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use trailhound::ingest::discover;
use trailhound::model::time::parse_timestamp;
use trailhound::{ScanOptions, ScanSummary, TimeRange};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One finding per line as JSON (the default; machine-readable).
    Jsonl,
    /// A JSON array of Security Hub ASFF findings.
    Asff,
    /// BatchImportFindings request bodies (at most 100 findings each) as files in the -o folder.
    AsffBatches,
    /// Parquet, one row per finding (needs -o).
    Parquet,
    /// OCSF 1.1 Detection Finding (class 2004) Parquet, as Security Lake stores it (needs -o).
    OcsfParquet,
    /// A table grouped by severity, for people.
    Table,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files, folders (walked recursively) or S3-export trees. Defaults to the current folder.
    #[arg(value_name = "PATHS")]
    paths: Vec<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Keep records at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Keep records at or before this time (RFC 3339 or YYYY-MM-DD, UTC; a bare date means its
    /// whole day).
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Write the run summary as one JSON object to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
    /// Findings output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write findings to FILE instead of stdout (a folder for asff-batches).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// ASFF: ProductArn for every finding (default: the finding's account and region's
    /// `product/<account>/default`).
    #[arg(long, value_name = "ARN")]
    product_arn: Option<String>,
    /// ASFF: account for findings whose logs name none.
    #[arg(long, value_name = "ID", default_value = "000000000000")]
    asff_account: String,
    /// ASFF: region for findings whose logs name none.
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    asff_region: String,
    #[command(flatten)]
    source: crate::rules_cmd::RuleSource,
    /// Exit with code 1 when a finding at or above this severity exists (low, medium, high, or a
    /// number on GuardDuty's 1.0–8.9 scale). Default: never.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<String>,
    /// Refuse objects that decompress to more than this many bytes (suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    max_decompressed_size: String,
    /// How late a record may be behind its object's key time (30s, 15m, 1h, 1d) and still join
    /// the correlation windows of the records around it; objects are read in key-time order and
    /// windows past it are closed while scanning (flat memory). One duration for every kind, or
    /// `KIND=DURATION` pairs (`cloudtrail`, `vpcflow`, `dns`; comma-separated, unnamed kinds keep
    /// their default). `off` keeps every window to the end, exact for any record order.
    #[arg(
        long,
        value_name = "DURATION|KIND=DURATION,…|off",
        default_value = "cloudtrail=1h,vpcflow=15m,dns=1h"
    )]
    lateness: String,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// Parses `4GiB`, `512M`, `1000`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("bad size {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        other => bail!("unknown size unit {other:?} in {s:?}"),
    };
    Ok((n * mult) as u64)
}

fn parse_bound(s: &str, flag: &str, end_of_day: bool) -> Result<i64> {
    let t = parse_timestamp(s)
        .with_context(|| format!("{flag} {s:?} is not an RFC 3339 time or a YYYY-MM-DD date"))?;
    Ok(if end_of_day && s.trim().len() == 10 {
        t + 86_400_000 - 1
    } else {
        t
    })
}

/// `--lateness`: `off` (no windows closed while scanning), one duration for every kind, or
/// `KIND=DURATION` pairs over the defaults ([`trailhound::DEFAULT_LATENESS_MS`]).
pub fn parse_lateness(s: &str) -> Result<Option<trailhound::PerKind<i64>>> {
    use trailhound::rules::rule::parse_duration;
    let s = s.trim();
    if s == "off" {
        return Ok(None);
    }
    let duration = |d: &str| {
        parse_duration(d.trim()).with_context(|| {
            format!(
                "--lateness: `{}` is not a duration (30s, 15m, 1h, 1d)",
                d.trim()
            )
        })
    };
    if !s.contains('=') {
        return Ok(Some(trailhound::PerKind::uniform(duration(s)?)));
    }
    let mut l = trailhound::DEFAULT_LATENESS_MS;
    for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (kind, d) = pair
            .split_once('=')
            .with_context(|| format!("--lateness: `{pair}` is not KIND=DURATION"))?;
        let kind = trailhound::LogKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind.trim())
            .with_context(|| {
                format!(
                    "--lateness: `{}` is not a log kind (cloudtrail, vpcflow, dns)",
                    kind.trim()
                )
            })?;
        *l.get_mut(kind) = duration(d)?;
    }
    Ok(Some(l))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed when complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes).map_err(anyhow::Error::from))
}

/// A file whose written bytes are handed to the disk as they accumulate (Linux's
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts write-back and does not wait for it), so
/// the `fsync` before the rename waits for the last few megabytes instead of the whole output:
/// on a 170 MB ASFF file the final sync went from ~0.06 s to a few milliseconds, and the disk works
/// while the findings are still being serialised.
struct WriteBehind {
    file: std::fs::File,
    /// Bytes written so far.
    written: u64,
    /// Where the range not yet handed to write-back starts.
    synced: u64,
}

impl WriteBehind {
    /// Write-back is started per this many bytes.
    const STEP: u64 = 8 << 20;

    fn new(file: std::fs::File) -> Self {
        WriteBehind {
            file,
            written: 0,
            synced: 0,
        }
    }

    /// Starts write-back of `synced..written` (a hint: failures show up at the `fsync`).
    fn start_write_back(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(off), Ok(len)) = (
                i64::try_from(self.synced),
                i64::try_from(self.written - self.synced),
            ) else {
                return;
            };
            // SAFETY: the descriptor is the open file this struct owns; the call reads no memory
            // of ours and only schedules I/O on that file's pages.
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE)
            };
        }
        self.synced = self.written;
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.synced >= Self::STEP {
            self.start_write_back();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Runs `write` on a temporary file in `path`'s folder, synced and renamed to `path` when it
/// succeeded and removed when it failed; `-` writes to stdout instead.
///
/// Only regular files are replaced that way. A path that exists and is something else (a device
/// such as `/dev/null` or `/dev/stdout`, a named pipe) is written in place: renaming a temporary
/// file over it would replace the device itself (as root, `-o /dev/null` once left a regular
/// file there). A symbolic link to a file keeps being a link: its target is replaced.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>,
) -> Result<()> {
    /// Writes through a buffer straight into `w` (stdout, a device, a pipe).
    fn direct(
        w: impl Write + Send,
        what: &str,
        write: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>,
    ) -> Result<()> {
        let mut b = std::io::BufWriter::with_capacity(1 << 20, w);
        write(&mut b).with_context(|| format!("writing {what}"))?;
        b.flush().with_context(|| format!("writing {what}"))
    }
    if path == Path::new("-") {
        return direct(std::io::stdout(), "to stdout", write);
    }
    let resolved;
    let path = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            let what = path.display().to_string();
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("writing {what}"))?;
            return direct(f, &what, write);
        }
        Ok(m) if m.is_file() => {
            resolved = through_link(path)?;
            &*resolved
        }
        _ => path,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = temp_path(dir, &name);
    let res = (|| -> Result<()> {
        let mut f = WriteBehind::new(std::fs::File::create(&tmp)?);
        write(&mut f)?;
        f.file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// The path a symbolic link `path` points to (resolved whole), or `path` itself when it is no
/// link: an output written through a link replaces or fills its target, and the link stays.
fn through_link(path: &Path) -> Result<std::borrow::Cow<'_, Path>> {
    if !path.is_symlink() {
        return Ok(std::borrow::Cow::Borrowed(path));
    }
    std::fs::canonicalize(path)
        .map(std::borrow::Cow::Owned)
        .with_context(|| format!("resolving the link {}", path.display()))
}

/// Where `name` in `dir` is written before it is complete: hidden, and unique to this process.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Threads that sync `asff-batches` files at once (2 to 8 measured: 8 syncs fastest to a disk;
/// the file system commits concurrent syncs together). The files are serialised and written by
/// as many threads as the pool has: eight writers on two cores contended for the folder and the
/// page cache (to tmpfs, 98,494 findings took 0.107 s with eight, 0.088 s with two).
const SYNC_WORKERS: usize = 8;

/// Files written and waiting for their sync at most (each holds a descriptor open).
const SYNC_QUEUE: usize = 64;

/// A sync that takes longer than this is a disk's: the files after it are synced by the
/// [`SYNC_WORKERS`] threads.
const SLOW_SYNC: std::time::Duration = std::time::Duration::from_millis(1);

/// A file sink for [`write_atomic_files`]: `sink(name, parts)` writes one file of `dir`.
type FileSink<'a> = dyn Fn(&str, &[&[u8]]) -> std::io::Result<()> + Sync + 'a;

/// Writes a set of files into the folder `dir` the way [`write_atomic`] writes one: `write` is
/// given a sink that writes each file (from any thread) and syncs it, or once a sync was slow, has
/// one of [`SYNC_WORKERS`] threads sync it meanwhile. Nothing shows under its final name before
/// `write` succeeded and every file is synced; a failure removes what was written and names the
/// file that failed.
///
/// - A folder that does not exist yet receives the whole set at once: the files are written under
///   their own names into a hidden folder beside it, which is synced and renamed to `dir`. A crash
///   leaves `dir` absent or complete, and the set costs one rename.
/// - A folder that exists (empty or not) is kept, with its permissions and owner, and so are its
///   files, except the ones `stale(name)` says belong to an earlier set of this kind (an earlier
///   run's `batch-*.json`): the new files are written under temporary names, renamed in name
///   order, and only then are the earlier set's files the new set does not overwrite removed, so
///   the folder never mixes two runs' sets once this returns. A crash leaves each file whole or
///   absent.
pub fn write_atomic_files(
    dir: &Path,
    stale: impl Fn(&str) -> bool,
    write: impl FnOnce(&FileSink<'_>) -> Result<()>,
) -> Result<()> {
    write_atomic_files_with(dir, stale, SLOW_SYNC, write)
}

/// Whether `dir` does not exist yet (an error if it exists and is not a folder).
fn absent(dir: &Path) -> Result<bool> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(false),
        Ok(_) => Err(anyhow::anyhow!("{} is not a usable folder", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("{} is not a usable folder", dir.display())),
    }
}

/// Syncs the folder `dir`, which makes the entries made or renamed in it durable.
fn sync_folder(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder {}", dir.display()))
}

/// [`write_atomic_files`] with syncs longer than `slow_sync` counting as slow.
fn write_atomic_files_with(
    dir: &Path,
    stale: impl Fn(&str) -> bool,
    slow_sync: std::time::Duration,
    write: impl FnOnce(&FileSink<'_>) -> Result<()>,
) -> Result<()> {
    // A link to a folder stays a link: the set goes into the folder it points to.
    let dir = &*through_link(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    if absent(dir)? {
        let name = dir
            .file_name()
            .map_or_else(|| "findings".into(), |n| n.to_string_lossy().into_owned());
        let staging = temp_path(&parent, &name);
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
        let res = write_files(dir, |name| staging.join(name), slow_sync, write)
            .and_then(|_| sync_folder(&staging))
            .and_then(|()| {
                std::fs::rename(&staging, dir).with_context(|| format!("writing {}", dir.display()))
            });
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        return res.and_then(|()| sync_folder(&parent));
    }
    let mut files = write_files(dir, |name| temp_path(dir, name), slow_sync, write)?;
    files.sort_unstable();
    let renamed = files.iter().try_for_each(|(name, tmp)| {
        let path = dir.join(name);
        std::fs::rename(tmp, &path).with_context(|| format!("writing {}", path.display()))
    });
    if let Err(e) = renamed {
        for (_, tmp) in &files {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    // The earlier set's files that the new one did not overwrite.
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale(&name)
            && files
                .binary_search_by(|(n, _)| n.as_str().cmp(&name))
                .is_err()
        {
            let path = entry.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the earlier {}", path.display()))?;
        }
    }
    sync_folder(dir)
}

/// Writes the files `write` hands its sink, file `name` at `path_of(name)`, synced; returns each
/// name with where it was written (all removed again on a failure).
fn write_files(
    dir: &Path,
    path_of: impl Fn(&str) -> PathBuf + Sync,
    slow_sync: std::time::Duration,
    write: impl FnOnce(&FileSink<'_>) -> Result<()>,
) -> Result<Vec<(String, PathBuf)>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, mpsc};
    let written = Mutex::new(Vec::<(String, PathBuf)>::new());
    let sync_failed: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let named = |name: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{}: {e}", dir.join(name).display()))
    };
    let slow = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<(std::fs::File, String)>(SYNC_QUEUE);
    let rx = Mutex::new(rx);
    let res = std::thread::scope(|s| {
        for _ in 0..SYNC_WORKERS {
            s.spawn(|| {
                loop {
                    // The lock is held only to take the next file, not while syncing it.
                    let next = rx.lock().ok().and_then(|r| r.recv().ok());
                    let Some((file, name)) = next else {
                        return;
                    };
                    if let Err(e) = file.sync_all()
                        && let Ok(mut slot) = sync_failed.lock()
                    {
                        slot.get_or_insert(named(&name, e));
                    }
                }
            });
        }
        let sink = |name: &str, parts: &[&[u8]]| -> std::io::Result<()> {
            let path = path_of(name);
            let res = std::fs::File::create(&path).and_then(|mut f| {
                if let Ok(mut w) = written.lock() {
                    w.push((name.to_owned(), path));
                }
                write_parts(&mut f, parts)?;
                Ok(f)
            });
            let f = res.map_err(|e| named(name, e))?;
            if !slow.load(Ordering::Relaxed) {
                // Where a sync costs nothing (tmpfs) the writer syncs its own files: handing
                // each one to another thread cost a tenth of writing them. The first slow one
                // sends the rest to the sync threads.
                let started = std::time::Instant::now();
                f.sync_all().map_err(|e| named(name, e))?;
                if started.elapsed() > slow_sync {
                    slow.store(true, Ordering::Relaxed);
                }
                return Ok(());
            }
            tx.send((f, name.to_owned()))
                .map_err(|_| named(name, std::io::Error::other("the sync threads stopped")))
        };
        let res = write(&sink);
        // Dropping the sender ends the sync threads once the queue is empty; the scope waits.
        drop(tx);
        res
    });
    let res = res.and_then(|()| match sync_failed.into_inner().ok().flatten() {
        Some(e) => Err(anyhow::Error::from(e).context("syncing a written file")),
        None => Ok(()),
    });
    let files = written.into_inner().unwrap_or_default();
    if let Err(e) = res {
        for (_, path) in &files {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(files)
}

/// Writes `parts` one after the other into `f`, in one `writev` where the system takes them whole.
fn write_parts(f: &mut std::fs::File, parts: &[&[u8]]) -> std::io::Result<()> {
    let slices: Vec<std::io::IoSlice<'_>> =
        parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let n = f.write_vectored(&slices)?;
    if n == total {
        return Ok(());
    }
    // A short write: the rest part by part.
    let mut skip = n;
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        f.write_all(&p[skip..])?;
        skip = 0;
    }
    Ok(())
}

pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let range = TimeRange {
        since: args
            .since
            .as_deref()
            .map(|s| parse_bound(s, "--since", false))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_bound(s, "--until", true))
            .transpose()?,
    };
    if let (Some(s), Some(u)) = (range.since, range.until)
        && s > u
    {
        bail!("--since is after --until");
    }
    for dir in &args.source.rules {
        if !dir.exists() {
            bail!("--rules {}: no such folder or file", dir.display());
        }
    }
    let fail_on = args.fail_on.as_deref().map(parse_severity).transpose()?;
    // Rule files compile in parallel (trailhound_rules::load), on as many threads as the scan.
    let startup = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("cannot start the rule-loading threads")?;
    let (set, diags, trusted) = startup.install(|| args.source.load())?;
    let errors: Vec<_> = diags
        .iter()
        .filter(|d| d.level == trailhound::rules::Level::Error)
        .collect();
    if !errors.is_empty() {
        for d in &errors {
            eprintln!("{d}");
        }
        bail!("{} rule errors (see `trailhound rules lint`)", errors.len());
    }
    let plan = std::sync::Arc::new(startup.install(|| trailhound::Plan::new(&set, &trusted)));
    drop(startup);
    let opts = ScanOptions {
        threads: args.threads,
        range,
        max_decompressed_bytes: parse_size(&args.max_decompressed_size)?,
        lateness_ms: parse_lateness(&args.lateness)?,
        // Only the summary file shows the count.
        count_correlation_groups: args.summary_json.is_some(),
        ..ScanOptions::default()
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };

    let started = std::time::Instant::now();
    let found = discover(&paths, &opts.range);
    let total = trailhound::total_size(&found.objects);
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let (findings, summary) = trailhound::detect_discovered(found, &opts, plan, &tick, started)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    crate::purge_later();
    let writing = std::time::Instant::now();
    write_findings(&args, &findings)?;
    let write_secs = writing.elapsed().as_secs_f64();
    if let Some(p) = &args.summary_json {
        let mut json = serde_json::to_vec_pretty(&summary).context("serialising the summary")?;
        json.push(b'\n');
        write_atomic(p, &json)?;
    }
    if !args.quiet {
        eprint!("{}", render_summary(&summary));
        eprint!("{}", render_findings(&findings));
        eprintln!(
            "  output: {} findings as {:?} in {:.3} s ({:.1} % of the scan)",
            findings.len(),
            args.format,
            write_secs,
            100.0 * write_secs / summary.elapsed_seconds.max(1e-9)
        );
    }
    let failing = fail_on.is_some_and(|min| findings.iter().any(|f| f.severity >= min));
    // The process ends next: freeing 100,000 findings string by string is wasted time.
    std::mem::forget(findings);
    Ok(if summary.has_input_errors() {
        ExitCode::from(2)
    } else if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    trailhound::model::time::format_millis(ms)
}

/// Writes the findings in the chosen format, to `-o` (atomically) or stdout.
fn write_findings(args: &ScanArgs, findings: &[trailhound::Finding]) -> Result<()> {
    use trailhound_output::{asff, jsonl, parquet, table};
    let asff_opts = asff::AsffOptions {
        product_arn: args.product_arn.clone(),
        default_account: args.asff_account.clone(),
        default_region: args.asff_region.clone(),
        now: now_rfc3339(),
    };
    let path = args.output.as_deref().unwrap_or(Path::new("-"));
    match args.format {
        Format::Jsonl => write_atomic_with(path, |w| Ok(jsonl::write(w, findings)?)),
        Format::Asff => write_atomic_with(path, |w| Ok(asff::write_json(w, findings, &asff_opts)?)),
        Format::AsffBatches => {
            let Some(dir) = &args.output else {
                bail!("--format asff-batches writes one file per request: give a folder with -o");
            };
            // One writer per scan thread; the syncs have threads of their own.
            let writers = match args.threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            };
            write_atomic_files(dir, is_batch_name, |sink| {
                asff::write_batches(findings, &asff_opts, writers, |i, parts| {
                    sink(&format!("batch-{:04}.json", i + 1), parts)
                })?;
                Ok(())
            })
        }
        Format::Parquet | Format::OcsfParquet => {
            if args.output.is_none() {
                bail!("--format parquet and ocsf-parquet need -o FILE");
            }
            let ocsf = args.format == Format::OcsfParquet;
            write_atomic_with(path, |w| {
                if ocsf {
                    parquet::write_ocsf(w, findings)?;
                } else {
                    parquet::write_findings(w, findings)?;
                }
                Ok(())
            })
        }
        Format::Table => {
            let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
            let opts = table::TableOptions {
                width: 80,
                color: to_terminal && std::env::var_os("NO_COLOR").is_none(),
            };
            write_atomic(path, table::render(findings, &opts).as_bytes())
        }
    }
}

/// Whether `name` is one of the files `asff-batches` writes (`batch-0001.json`, …): the ones a new
/// run replaces in a folder that holds an earlier run's.
fn is_batch_name(name: &str) -> bool {
    name.strip_prefix("batch-")
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `low`/`medium`/`high` (the bands' lower bounds) or a number.
pub fn parse_severity(s: &str) -> Result<f64> {
    match s.to_ascii_lowercase().as_str() {
        "low" => Ok(1.0),
        "medium" => Ok(4.0),
        "high" => Ok(7.0),
        other => other
            .parse::<f64>()
            .with_context(|| format!("--fail-on {s:?}: use low, medium, high or a number")),
    }
}

/// Findings per severity and per type, for the stderr summary.
pub fn render_findings(findings: &[trailhound::Finding]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    let mut out = String::new();
    if findings.is_empty() {
        return out;
    }
    let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    // Findings come sorted by type: count runs, and look each run up once (a lookup per finding
    // compared type names ~20 times each, a few percent of writing 100,000 findings).
    for run in findings
        .chunk_by(|a, b| a.finding_type == b.finding_type && a.severity_label == b.severity_label)
    {
        *by_label.entry(run[0].severity_label).or_default() += run.len();
        *by_type.entry(run[0].finding_type.as_str()).or_default() += run.len() as u64;
    }
    let _ = writeln!(
        out,
        "  findings by severity: {}",
        ["High", "Medium", "Low"]
            .iter()
            .filter_map(|l| by_label.get(l).map(|n| format!("{l} {n}")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "  findings by type:");
    for (t, n) in by_type {
        let _ = writeln!(out, "    {n:>5}  {t}");
    }
    out
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// The human summary printed on stderr.
pub fn render_summary(s: &ScanSummary) -> String {
    use std::fmt::Write as _;
    let t = &s.totals;
    let mut out = String::new();
    let secs = s.elapsed_seconds.max(1e-9);
    let _ = writeln!(
        out,
        "trailhound: {} objects scanned, {} skipped, {} failed; {} stored, {} decompressed in {:.2} s ({:.0} MB/s, {:.0} records/s)",
        t.objects_scanned,
        t.objects_skipped,
        t.objects_failed,
        human_bytes(t.bytes_compressed),
        human_bytes(t.bytes_uncompressed),
        s.elapsed_seconds,
        t.bytes_uncompressed as f64 / 1e6 / secs,
        t.records_read as f64 / secs,
    );
    let _ = writeln!(
        out,
        "  records: {} read = {} parsed + {} skipped + {} rejected",
        t.records_read, t.records_parsed, t.records_skipped, t.records_rejected
    );
    for (kind, c) in &s.by_kind {
        if c.objects_scanned + c.objects_skipped + c.objects_failed == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<10} {} objects ({} skipped, {} failed), {} records ({} parsed, {} skipped, {} rejected)",
            kind.as_str(),
            c.objects_scanned,
            c.objects_skipped,
            c.objects_failed,
            c.records_read,
            c.records_parsed,
            c.records_skipped,
            c.records_rejected
        );
    }
    let reasons = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.objects_skipped_by_reason.is_empty() {
        let _ = writeln!(
            out,
            "  objects skipped: {}",
            reasons(&s.objects_skipped_by_reason)
        );
    }
    if !s.records_skipped_by_reason.is_empty() {
        let _ = writeln!(
            out,
            "  records skipped: {}",
            reasons(&s.records_skipped_by_reason)
        );
    }
    if !s.records_rejected_by_reason.is_empty() {
        let _ = writeln!(
            out,
            "  records rejected: {}",
            reasons(&s.records_rejected_by_reason)
        );
    }
    let objects: Vec<_> = s.errors.iter().filter(|e| e.scope == "object").collect();
    if !objects.is_empty() {
        let _ = writeln!(out, "  failed objects:");
        for e in objects.iter().take(20) {
            let _ = writeln!(out, "    {}: {}", e.path, e.reason);
        }
        if objects.len() > 20 {
            let _ = writeln!(
                out,
                "    … and {} more (see --summary-json)",
                objects.len() - 20
            );
        }
    }
    let records: Vec<_> = s.errors.iter().filter(|e| e.scope == "record").collect();
    if !records.is_empty() {
        let _ = writeln!(out, "  rejected records (first {}):", records.len().min(10));
        for e in records.iter().take(10) {
            let _ = writeln!(out, "    {}: {}", e.path, e.reason);
        }
    }
    if s.correlation_late_events > 0 {
        let _ = writeln!(
            out,
            "  late correlation events: {} (records later than --lateness behind their object's key time; they could not join windows already closed)",
            s.correlation_late_events
        );
    }
    if s.first_seen_saturated > 0 {
        let _ = writeln!(
            out,
            "  first_seen signals saturated: {} (group × signal pairs with more than max-values values in the learning period; new values of those signals are not reported)",
            s.first_seen_saturated
        );
    }
    let _ = writeln!(out, "  findings: {}", s.findings);
    if s.has_input_errors() {
        let _ = writeln!(out, "  input errors: exit code 2");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_takes_one_duration_kind_pairs_or_off() {
        use trailhound::PerKind;
        assert_eq!(parse_lateness("off").unwrap(), None);
        assert_eq!(
            parse_lateness("20m").unwrap(),
            Some(PerKind::uniform(1_200_000))
        );
        assert_eq!(
            parse_lateness("cloudtrail=1h,vpcflow=15m,dns=1h").unwrap(),
            Some(trailhound::DEFAULT_LATENESS_MS)
        );
        // Kinds not named keep their default.
        assert_eq!(
            parse_lateness("vpcflow=1h").unwrap(),
            Some(PerKind::uniform(3_600_000))
        );
        let e = format!("{:#}", parse_lateness("flow=15m").unwrap_err());
        assert!(e.contains("`flow` is not a log kind"), "{e}");
        let e = format!("{:#}", parse_lateness("dns=soon").unwrap_err());
        assert!(e.contains("`soon` is not a duration"), "{e}");
        assert!(parse_lateness("vpcflow").is_err());
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn finding(ty: &str, label: &'static str) -> trailhound::Finding {
        trailhound::Finding {
            finding_type: ty.into(),
            severity_label: label,
            ..Default::default()
        }
    }

    #[test]
    fn findings_are_counted_per_severity_and_type_in_any_order() {
        let fs: Vec<_> = ["B", "A", "A", "B", "B", "C"]
            .iter()
            .zip(["Low", "High", "High", "Low", "Medium", "Low"])
            .map(|(t, l)| finding(t, l))
            .collect();
        let text = render_findings(&fs);
        assert!(
            text.contains("by severity: High 2, Medium 1, Low 3\n"),
            "{text}"
        );
        for line in ["    2  A\n", "    3  B\n", "    1  C\n"] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
    }

    /// Both ways files are synced: by their writer, and (every sync counting as slow) by the
    /// sync threads.
    const SYNCS: [std::time::Duration; 2] = [SLOW_SYNC, std::time::Duration::ZERO];

    /// Writes 200 files `f000`..`f199` into `dir`, checking after each that none shows in `dir`
    /// under its final name before all are written.
    fn write_200(dir: &Path, slow: std::time::Duration) -> Result<()> {
        write_atomic_files_with(
            dir,
            |n| n.starts_with('f'),
            slow,
            |sink| {
                for i in (0..200).rev() {
                    sink(&format!("f{i:03}"), &[b"head ", i.to_string().as_bytes()])?;
                    let now = listing(dir);
                    assert!(
                        now.iter().all(|n| n.ends_with(".tmp") || n == "keep"),
                        "{now:?}"
                    );
                }
                Ok(())
            },
        )
    }

    fn wrote_200(dir: &Path) {
        let names: Vec<String> = listing(dir).into_iter().filter(|n| n != "keep").collect();
        assert_eq!(
            names,
            (0..200).map(|i| format!("f{i:03}")).collect::<Vec<_>>()
        );
        assert_eq!(std::fs::read(dir.join("f007")).unwrap(), b"head 7");
        assert_eq!(std::fs::read(dir.join("f199")).unwrap(), b"head 199");
    }

    #[test]
    fn a_new_folder_appears_whole_once_all_files_are_written() {
        for slow in SYNCS {
            let top = tempfile::tempdir().unwrap();
            // A folder to be made, and one that exists but is empty.
            let made = top.path().join("out");
            let empty = top.path().join("empty");
            std::fs::create_dir(&empty).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let private = std::fs::Permissions::from_mode(0o700);
                std::fs::set_permissions(&empty, private).unwrap();
            }
            for dir in [&made, &empty] {
                write_200(dir, slow).unwrap();
                wrote_200(dir);
            }
            // A folder that existed is the same folder, its permissions kept (findings are
            // often written where only their owner may read them).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&empty).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700);
            }
            // Nothing is left beside them (the staging folders were renamed into place).
            assert_eq!(listing(top.path()), ["empty", "out"]);
        }
    }

    #[test]
    fn a_folder_in_use_keeps_its_other_files_and_loses_the_earlier_set() {
        for slow in SYNCS {
            let dir = tempfile::tempdir().unwrap();
            // An earlier, larger set, and a file that is not the writer's.
            for i in 0..300 {
                std::fs::write(dir.path().join(format!("f{i:03}")), b"old").unwrap();
            }
            std::fs::write(dir.path().join("keep"), b"mine").unwrap();
            write_atomic_files_with(
                dir.path(),
                |n| n.starts_with('f'),
                slow,
                |sink| {
                    for i in 0..200 {
                        sink(&format!("f{i:03}"), &[b"head ", i.to_string().as_bytes()])?;
                    }
                    // The earlier set is whole until the new one is.
                    assert_eq!(listing(dir.path()).len(), 301 + 200);
                    assert_eq!(std::fs::read(dir.path().join("f007")).unwrap(), b"old");
                    Ok(())
                },
            )
            .unwrap();
            wrote_200(dir.path());
            assert_eq!(std::fs::read(dir.path().join("keep")).unwrap(), b"mine");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_folder_stays_a_link() {
        for slow in SYNCS {
            let top = tempfile::tempdir().unwrap();
            let (target, link) = (top.path().join("target"), top.path().join("link"));
            std::fs::create_dir(&target).unwrap();
            std::os::unix::fs::symlink(&target, &link).unwrap();
            write_200(&link, slow).unwrap();
            assert!(link.is_symlink());
            wrote_200(&target);
            assert_eq!(listing(top.path()), ["link", "target"]);
        }
    }

    #[test]
    fn a_failure_leaves_no_file_and_names_the_one_that_failed() {
        for slow in SYNCS {
            let top = tempfile::tempdir().unwrap();
            let used = top.path().join("used");
            std::fs::create_dir(&used).unwrap();
            std::fs::write(used.join("f000"), b"old").unwrap();
            for dir in [top.path().join("new"), used.clone()] {
                let r = write_atomic_files_with(
                    &dir,
                    |n| n.starts_with('f'),
                    slow,
                    |sink| {
                        for i in 0..100 {
                            sink(&format!("a{i}"), &[b"x"])?;
                        }
                        // A name in a folder that does not exist: creating it fails.
                        sink("missing/b", &[b"y"])?;
                        Ok(())
                    },
                );
                let e = format!("{:#}", r.unwrap_err());
                assert!(e.contains("missing/b"), "{e}");
            }
            // The new folder was never made; the one in use is as it was.
            assert_eq!(listing(top.path()), ["used"]);
            assert_eq!(listing(&used), ["f000"]);
            assert_eq!(std::fs::read(used.join("f000")).unwrap(), b"old");
        }
    }

    #[test]
    fn parts_are_written_whole_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let mut f = std::fs::File::create(&path).unwrap();
        let big = vec![b'z'; 1 << 20];
        write_parts(&mut f, &[b"{", &big, b"", b"}"]).unwrap();
        drop(f);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), (1 << 20) + 2);
        assert_eq!((got[0], got[got.len() - 1]), (b'{', b'}'));
    }

    #[test]
    fn only_batch_files_count_as_an_earlier_set() {
        assert!(is_batch_name("batch-0001.json"));
        assert!(is_batch_name("batch-12345.json"));
        for n in [
            "batch-.json",
            "batch-0001.json.bak",
            "notes.json",
            "batch-00a1.json",
        ] {
            assert!(!is_batch_name(n), "{n}");
        }
    }
}
