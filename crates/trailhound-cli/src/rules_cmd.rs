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
        let opts = LoadOptions {
            bundled: !self.no_default_rules,
            paths: self.rules.clone(),
            lists: vec![
                ("custom-threat-list".into(), threat),
                ("trusted-ips".into(), trusted.clone()),
            ],
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
    }
}
