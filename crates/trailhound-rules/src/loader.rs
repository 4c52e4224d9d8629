//! Loading rule packs: the bundled pack embedded in the binary, folders of rule files, and lists.
//!
//! Every file is read, every problem becomes a [`Diagnostic`], and every good rule is kept: one bad
//! file never hides the others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic, Level, Problem};
use rayon::prelude::*;

use crate::lists::{Lists, parse_list};
use crate::rule::{Body, Rule, parse_doc};
use crate::yaml::load_docs;

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Load the bundled pack.
    pub bundled: bool,
    /// Folders (walked recursively for `*.yml`/`*.yaml`; a `lists/` folder inside holds lists) or
    /// single rule files.
    pub paths: Vec<PathBuf>,
    /// Extra named lists (from the command line).
    pub lists: Vec<(String, Vec<String>)>,
}

/// A loaded, validated rule pack.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules in load order (bundled first, then each path in order, files sorted).
    pub rules: Vec<Rule>,
    /// Named lists.
    pub lists: Lists,
}

fn diag(path: &str, p: Problem, level: Level) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        line: p.line,
        code: p.code,
        level,
        message: p.message,
    }
}

fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    v.sort();
    v
}

/// One rule file's rules and diagnostics.
fn load_text(path: &str, text: &str, lists: &Lists) -> (Vec<Rule>, Vec<Diagnostic>) {
    let (mut rules, mut diags) = (Vec::new(), Vec::new());
    let docs = match load_docs(text) {
        Ok(d) => d,
        Err(p) => {
            diags.push(diag(path, p, Level::Error));
            return (rules, diags);
        }
    };
    for doc in &docs {
        match parse_doc(doc, path, lists) {
            Ok(r) => rules.push(r),
            Err(ps) => {
                for p in ps {
                    let level = if p.code == Code::UnsupportedLogsource {
                        Level::Warning
                    } else {
                        Level::Error
                    };
                    diags.push(diag(path, p, level));
                }
            }
        }
    }
    (rules, diags)
}

/// Appends files' rules and diagnostics in the files' order.
fn append_in_order(
    loaded: Vec<(Vec<Rule>, Vec<Diagnostic>)>,
    rules: &mut Vec<Rule>,
    diags: &mut Vec<Diagnostic>,
) {
    for (r, d) in loaded {
        rules.extend(r);
        diags.extend(d);
    }
}

/// Loads rules and lists; returns the good rules and every diagnostic.
pub fn load(opts: &LoadOptions) -> (RuleSet, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut lists = Lists::default();
    // The lists the command line fills are always defined (empty unless given), so that rules
    // using them load everywhere.
    lists.insert("custom-threat-list", Vec::new());
    lists.insert("trusted-ips", Vec::new());
    if opts.bundled {
        for (name, text) in BUNDLED_LISTS {
            lists.insert(name, parse_list(text));
        }
    }
    for p in &opts.paths {
        let ld = p.join("lists");
        if ld.is_dir()
            && let Err(e) = lists.load_dir(&ld)
        {
            diags.push(Diagnostic {
                path: ld.display().to_string(),
                line: 0,
                code: Code::UnknownList,
                level: Level::Error,
                message: format!("cannot read lists: {e}"),
            });
        }
    }
    // Lists given by the caller add to the bundled ones of the same name.
    for (name, entries) in &opts.lists {
        lists.extend(name, entries.clone());
    }
    // Files are read and compiled in parallel on the current rayon pool (threat lists make a
    // few of them the larger part of a scan's start-up), and taken in order.
    let mut rules = Vec::new();
    if opts.bundled {
        let loaded = BUNDLED_RULES
            .par_iter()
            .map(|(rel, text)| load_text(&format!("rules/{rel}"), text, &lists))
            .collect();
        append_in_order(loaded, &mut rules, &mut diags);
    }
    for p in &opts.paths {
        let files = if p.is_file() {
            vec![p.clone()]
        } else {
            rule_files(p)
        };
        if files.is_empty() && !p.exists() {
            diags.push(Diagnostic {
                path: p.display().to_string(),
                line: 0,
                code: Code::MissingField,
                level: Level::Error,
                message: "no such file or folder".into(),
            });
        }
        let loaded = files
            .par_iter()
            .filter(|f| !f.components().any(|c| c.as_os_str() == "lists"))
            .map(|f| {
                let shown = f.display().to_string();
                match std::fs::read_to_string(f) {
                    Ok(text) => load_text(&shown, &text, &lists),
                    Err(e) => (
                        Vec::new(),
                        vec![Diagnostic {
                            path: shown,
                            line: 0,
                            code: Code::YamlSyntax,
                            level: Level::Error,
                            message: format!("cannot read: {e}"),
                        }],
                    ),
                }
            })
            .collect();
        append_in_order(loaded, &mut rules, &mut diags);
    }
    // Duplicate ids: the first wins.
    let mut seen: HashMap<String, String> = HashMap::new();
    rules.retain(|r| match seen.get(&r.id) {
        Some(first) => {
            diags.push(Diagnostic {
                path: r.path.clone(),
                line: r.line,
                code: Code::DuplicateId,
                level: Level::Error,
                message: format!("id `{}` is already used by {first}", r.id),
            });
            false
        }
        None => {
            seen.insert(r.id.clone(), r.path.clone());
            true
        }
    });
    resolve_correlations(&mut rules, &mut diags);
    for r in &rules {
        if r.tests.matching.is_empty() || r.tests.not_matching.is_empty() {
            diags.push(Diagnostic {
                path: r.path.clone(),
                line: r.line,
                code: Code::MissingTests,
                level: Level::Warning,
                message: format!(
                    "rule `{}` lacks a `tests.match` or `tests.no_match` event",
                    r.id
                ),
            });
        }
    }
    (RuleSet { rules, lists }, diags)
}

fn resolve_correlations(rules: &mut Vec<Rule>, diags: &mut Vec<Diagnostic>) {
    let index: HashMap<String, usize> = rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| std::iter::once((r.id.clone(), i)).chain(r.name.clone().map(|n| (n, i))))
        .collect();
    let mut drop = vec![false; rules.len()];
    let mut base_of_generating = Vec::new();
    for i in 0..rules.len() {
        let Body::Correlation(c) = &rules[i].body else {
            continue;
        };
        let mut kinds = Vec::new();
        let mut resolved = Vec::new();
        for reference in &c.rules {
            match index.get(reference) {
                Some(&j) if matches!(rules[j].body, Body::Detection(_)) => {
                    kinds.push(rules[j].kind);
                    resolved.push(rules[j].id.clone());
                    base_of_generating.push(j);
                }
                Some(_) => {
                    diags.push(Diagnostic {
                        path: rules[i].path.clone(),
                        line: rules[i].line,
                        code: Code::UnknownRuleRef,
                        level: Level::Error,
                        message: format!(
                            "`{reference}` is a correlation; chaining correlations is not supported"
                        ),
                    });
                    drop[i] = true;
                }
                None => {
                    diags.push(Diagnostic {
                        path: rules[i].path.clone(),
                        line: rules[i].line,
                        code: Code::UnknownRuleRef,
                        level: Level::Error,
                        message: format!("no rule with id or name `{reference}`"),
                    });
                    drop[i] = true;
                }
            }
        }
        kinds.dedup();
        if kinds.len() > 1 {
            diags.push(Diagnostic {
                path: rules[i].path.clone(),
                line: rules[i].line,
                code: Code::BadCorrelation,
                level: Level::Error,
                message: "a correlation's rules must read the same log kind".into(),
            });
            drop[i] = true;
        }
        if let Some(k) = kinds.first() {
            rules[i].kind = *k;
        }
        if let Body::Correlation(c) = &mut rules[i].body {
            c.rules = resolved;
        }
    }
    // Base rules of a correlation do not raise findings of their own unless they say so.
    for j in base_of_generating {
        if !rules[j].generate_explicit {
            rules[j].generate = false;
        }
    }
    let mut k = 0;
    rules.retain(|_| {
        let keep = !drop[k];
        k += 1;
        keep
    });
}

/// The text of a bundled list (`rules/lists/<name>.txt`), e.g. for a generator that must keep
/// clear of the threat lists.
pub fn bundled_list(name: &str) -> Option<&'static str> {
    BUNDLED_LISTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Paths of the bundled rule files (for `rules list`).
pub fn bundled_files() -> impl Iterator<Item = &'static str> {
    BUNDLED_RULES.iter().map(|(p, _)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule file with one detection of id `id`.
    fn rule(id: &str) -> String {
        format!(
            "title: t\nid: {id}\nlogsource: {{product: aws, service: cloudtrail}}\n\
             detection:\n  selection:\n    eventName: X{id}\n  condition: selection\nlevel: low\n\
             finding: {{type: \"Stealth:IAMUser/CloudTrailLoggingDisabled\", severity: 2.0}}\n\
             tests:\n  match:\n    - {{eventName: X{id}}}\n  no_match:\n    - {{eventName: Y}}\n"
        )
    }

    #[test]
    fn files_compiled_in_parallel_load_in_file_order() {
        // Sixty files, so that the pool splits them; some broken, one repeating an earlier id.
        let dir = tempfile::tempdir().unwrap();
        let mut want_rules = Vec::new();
        let mut want_diags = Vec::new();
        for i in 0..60 {
            let name = format!("r{i:02}.yml");
            let text = match i {
                7 | 23 | 41 => "title: [unclosed\n".to_string(),
                50 => rule("id-03"),
                _ => {
                    want_rules.push(format!("id-{i:02}"));
                    rule(&format!("id-{i:02}"))
                }
            };
            if matches!(i, 7 | 23 | 41) {
                want_diags.push((name.clone(), Code::YamlSyntax));
            }
            std::fs::write(dir.path().join(&name), text).unwrap();
        }
        // Files under a `lists/` folder are lists, not rules.
        std::fs::create_dir(dir.path().join("lists")).unwrap();
        std::fs::write(dir.path().join("lists").join("zz.yml"), rule("in-lists")).unwrap();
        want_diags.push(("r50.yml".to_string(), Code::DuplicateId));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let (set, diags) = pool.install(|| {
            load(&LoadOptions {
                paths: vec![dir.path().to_path_buf()],
                ..LoadOptions::default()
            })
        });
        let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, want_rules);
        let got: Vec<(String, Code)> = diags
            .iter()
            .map(|d| {
                let file = Path::new(&d.path).file_name().unwrap().to_string_lossy();
                (file.into_owned(), d.code)
            })
            .collect();
        assert_eq!(got, want_diags);
    }
}
