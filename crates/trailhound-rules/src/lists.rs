//! Named plain-text lists (IPs, CIDRs, domains): `rules/lists/<name>.txt`, one entry a line, `#`
//! comments. Rules use them through Sigma placeholders (`field|cidr|expand: '%tor-exit-nodes%'`).

use std::collections::BTreeMap;
use std::path::Path;

/// Lists by name.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    map: BTreeMap<String, Vec<String>>,
}

/// Parses list text: one entry a line; blank lines and `#` comments (whole-line or trailing)
/// ignored.
///
/// ```
/// let v = trailhound_rules::lists::parse_list("# Tor exits\n1.2.3.4\n\n5.6.7.0/24  # range\n");
/// assert_eq!(v, vec!["1.2.3.4", "5.6.7.0/24"]);
/// ```
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Lists {
    /// Adds (or replaces) a list.
    pub fn insert(&mut self, name: &str, entries: Vec<String>) {
        self.map.insert(name.to_owned(), entries);
    }

    /// Adds entries to a list (creating it).
    pub fn extend(&mut self, name: &str, entries: Vec<String>) {
        self.map.entry(name.to_owned()).or_default().extend(entries);
    }

    /// A list's entries.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// Loads every `*.txt` in `dir` as a list named after the file.
    pub fn load_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for p in files {
            if p.extension().is_some_and(|e| e == "txt") {
                let name = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.insert(&name, parse_list(&std::fs::read_to_string(&p)?));
            }
        }
        Ok(())
    }

    /// Names and sizes.
    pub fn summary(&self) -> Vec<(String, usize)> {
        self.map.iter().map(|(k, v)| (k.clone(), v.len())).collect()
    }
}
