//! `trailhound rules list | lint | test | explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trailhound::Plan;
use trailhound::rules::{Body, Diagnostic, Level, LoadOptions, RuleSet, lists::parse_list, load};

/// Where rules come from (shared by `scan` and `rules`).
#[derive(Args, Debug, Clone, Default)]
pub struct RuleSource {
    /// Load rules from DIR (or a single rule file) as well (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not load the bundled rule pack.
    #[arg(long)]
    pub no_default_rules: bool,
    /// Your own threat list (IPs, CIDRs or domains, one a line): the list `custom-threat-list`,
    /// used by the `.Custom` finding variants (repeatable).
    #[arg(long = "threat-list", value_name = "FILE")]
    pub threat_lists: Vec<PathBuf>,
    /// Trusted IPs/CIDRs (one a line): records from them raise no findings (repeatable).
    #[arg(long = "trusted-ips", value_name = "FILE")]
    pub trusted_ips: Vec<PathBuf>,
    /// Add the entries of FILE (one a line) to the named list, e.g. `--list c2-ips=feed.txt`
    /// (repeatable; see rules/lists/ for the names the bundled rules use).
    #[arg(long = "list", value_name = "NAME=FILE")]
    pub lists: Vec<String>,
}

impl RuleSource {
    /// Loads the rules and lists.
    pub fn load(&self) -> Result<(RuleSet, Vec<Diagnostic>, Vec<String>)> {
        let mut threat = Vec::new();
        for f in &self.threat_lists {
            threat.extend(parse_list(
                &std::fs::read_to_string(f)
                    .with_context(|| format!("--threat-list {}", f.display()))?,
            ));
        }
        let mut trusted = Vec::new();
        for f in &self.trusted_ips {
            let entries = parse_list(
                &std::fs::read_to_string(f)
                    .with_context(|| format!("--trusted-ips {}", f.display()))?,
            );
            for e in &entries {
                if trailhound::rules::matcher::Net::parse(e).is_none() {
                    anyhow::bail!(
                        "--trusted-ips {}: `{e}` is not an IP address or CIDR",
                        f.display()
                    );
                }
            }
            trusted.extend(entries);
        }
        let mut lists = vec![
            ("custom-threat-list".into(), threat),
            ("trusted-ips".into(), trusted.clone()),
        ];
        for spec in &self.lists {
            let Some((name, file)) = spec.split_once('=') else {
                anyhow::bail!("--list {spec}: expected NAME=FILE");
            };
            let text = std::fs::read_to_string(file).with_context(|| format!("--list {spec}"))?;
            lists.push((name.to_owned(), parse_list(&text)));
        }
        let opts = LoadOptions {
            bundled: !self.no_default_rules,
            paths: self.rules.clone(),
            lists,
        };
        let (set, diags) = load(&opts);
        Ok((set, diags, trusted))
    }
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// List the rules that load.
    List(RuleSource),
    /// Report every problem in the rules at once (non-zero exit on any error).
    Lint(RuleSource),
    /// Run every rule's inline test events.
    Test(RuleSource),
    /// Print the compiled plan: indexes, automata, sets.
    Explain(RuleSource),
    /// Train the DGA model (`rules/models/dga.model`) from domain lists.
    TrainDga(TrainDga),
}

/// `rules train-dga`: lists of ordinary and DGA domains in, a model file out.
#[derive(Args, Debug)]
pub struct TrainDga {
    /// Ordinary domains, one a line (repeatable). Lines 0-1 of every 4 train the n-gram model,
    /// line 2 the regression; line 3 is held out.
    #[arg(long, value_name = "FILE", required = true)]
    pub benign: Vec<PathBuf>,
    /// DGA domains, one a line, or a folder of such files (repeatable). Even lines train.
    #[arg(long, value_name = "FILE|DIR", required = true)]
    pub dga: Vec<PathBuf>,
    /// At most this many training domains from one DGA file.
    #[arg(long, default_value_t = 2000)]
    pub max_per_file: usize,
    /// Share of the ordinary training domains the threshold may flag.
    #[arg(long, default_value_t = 0.008)]
    pub benign_rate: f64,
    /// Where to write the model.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

fn train_dga(a: &TrainDga) -> Result<()> {
    use trailhound::detect::names::dga;
    let read = |p: &PathBuf| std::fs::read_to_string(p).with_context(|| format!("{}", p.display()));
    let benign_texts: Vec<String> = a.benign.iter().map(read).collect::<Result<_>>()?;
    let mut dga_files = Vec::new();
    for p in &a.dga {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .collect();
            v.sort();
            dga_files.extend(v);
        } else {
            dga_files.push(p.clone());
        }
    }
    let dga_texts: Vec<String> = dga_files.iter().map(read).collect::<Result<_>>()?;
    let mut set = dga::TrainingSet {
        benign_rate: a.benign_rate,
        ..Default::default()
    };
    for t in &benign_texts {
        let [ng, reg, _] = dga::split_benign(&dga::domain_lines(t));
        set.ngram_domains.extend(ng);
        set.benign.extend(reg);
    }
    for t in &dga_texts {
        let [train, _] = dga::split_dga(&dga::domain_lines(t), a.max_per_file);
        set.dga.extend(train);
    }
    let model = dga::train(&set);
    crate::scan_cmd::write_atomic(&a.out, model.to_text().as_bytes())?;
    eprintln!(
        "trained on {} n-gram, {} ordinary and {} DGA domains from {} files; threshold {:.3}",
        set.ngram_domains.len(),
        set.benign.len(),
        set.dga.len(),
        dga_files.len(),
        model.threshold
    );
    Ok(())
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::List(src) => {
            let (set, _, _) = src.load()?;
            println!(
                "{:<38} {:<10} {:<5} {:<55} title",
                "id", "kind", "sev", "type"
            );
            for r in &set.rules {
                let kind = match r.body {
                    Body::Correlation(_) => format!("{}*", r.kind),
                    Body::Detection(_) => r.kind.to_string(),
                };
                println!(
                    "{:<38} {:<10} {:<5.1} {:<55} {}",
                    r.id, kind, r.finding.severity, r.finding.finding_type, r.title
                );
            }
            println!("{} rules (* = correlation)", set.rules.len());
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Lint(src) => {
            let (set, diags, _) = src.load()?;
            let mut sorted = diags.clone();
            sorted.sort_by(|a, b| {
                (a.path.as_str(), a.line, a.code).cmp(&(b.path.as_str(), b.line, b.code))
            });
            for d in &sorted {
                println!("{d}");
            }
            let errors = diags.iter().filter(|d| d.level == Level::Error).count();
            let warnings = diags.len() - errors;
            println!(
                "{} rules loaded; {errors} errors, {warnings} warnings",
                set.rules.len()
            );
            Ok(if errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::Test(src) => {
            let (set, diags, _) = src.load()?;
            for d in diags.iter().filter(|d| d.level == Level::Error) {
                println!("{d}");
            }
            let outcomes = trailhound::detect::testing::run_tests(&set);
            let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
            for o in &failed {
                let why = match &o.error {
                    Some(e) => format!("event could not be read: {e}"),
                    None if o.expected => "expected a finding, got none".into(),
                    None => "expected no finding, got one".into(),
                };
                println!("FAIL {}:{} [{}] {why}", o.path, o.line, o.rule_id);
            }
            let tested = set
                .rules
                .iter()
                .filter(|r| !r.tests.matching.is_empty() || !r.tests.not_matching.is_empty())
                .count();
            println!(
                "{} test events in {tested} rules: {} passed, {} failed",
                outcomes.len(),
                outcomes.len() - failed.len(),
                failed.len()
            );
            let errors = diags.iter().any(|d| d.level == Level::Error);
            Ok(if failed.is_empty() && !errors {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesCommand::Explain(src) => {
            let (set, _, trusted) = src.load()?;
            print!("{}", Plan::new(&set, &trusted).explain());
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::TrainDga(a) => {
            train_dga(&a)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
