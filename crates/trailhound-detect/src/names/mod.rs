//! Scores for DNS query names, for the detectors a rule language cannot express on its own.
//!
//! Resolver rules see three computed fields besides the log's own: `registered_domain` (the name
//! under its public suffix, from Mozilla's Public Suffix List), `dga_score` (how unlike an
//! ordinary domain the registered label is, from a small model embedded in the binary, see
//! [`dga`]) and `tunnel_score` (how much the labels left of the registered domain look like
//! encoded data, see [`tunnel`]). Rules put thresholds on them and aggregate them per instance
//! with correlations, so the parameters live in the rule files.
//!
//! ```
//! use trailhound_detect::names::{split_name, dga, tunnel};
//! let parts = split_name("abc.Mail.Example.co.uk.");
//! assert_eq!(parts.registered, "example.co.uk");
//! assert_eq!(parts.label, "example");
//! assert_eq!(parts.subdomain, "abc.Mail"); // case kept: tunnels encode data in it
//! assert!(dga::score("xjvyvnzivvtqwpl.net") > dga::score("wikipedia.org"));
//! assert!(tunnel::score("q+Z8AnwaBA.hidemyself.org") > tunnel::score("www.hidemyself.org"));
//! ```

pub mod dga;
pub mod tunnel;

/// A query name taken apart at its public suffix (lower-cased, trailing dot removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts {
    /// The registrable domain (`example.co.uk`), or the whole name when it is only a suffix.
    pub registered: String,
    /// The label left of the suffix (`example`).
    pub label: String,
    /// The public suffix (`co.uk`; for an unknown top-level domain, its last label).
    pub suffix: String,
    /// Whether the suffix is on the Public Suffix List (an unknown TLD such as `.bazar` is not).
    pub known_suffix: bool,
    /// Everything left of the registrable domain (`abc.mail`), case kept.
    pub subdomain: String,
}

/// Splits `name` at its public suffix.
pub fn split_name(name: &str) -> NameParts {
    let trimmed = name.trim_end_matches('.');
    let lower = trimmed.to_ascii_lowercase();
    let (suffix, known) = match psl::suffix(lower.as_bytes()) {
        Some(s) => (
            String::from_utf8_lossy(s.as_bytes()).into_owned(),
            s.is_known(),
        ),
        None => (String::new(), false),
    };
    let before = lower
        .strip_suffix(suffix.as_str())
        .map(|b| b.strip_suffix('.').unwrap_or(b))
        .unwrap_or("");
    if before.is_empty() {
        return NameParts {
            registered: lower.clone(),
            label: suffix.clone(),
            suffix,
            known_suffix: known,
            subdomain: String::new(),
        };
    }
    let (sub_len, label) = match before.rfind('.') {
        Some(i) => (i, &before[i + 1..]),
        None => (0, before),
    };
    NameParts {
        registered: format!("{label}.{suffix}"),
        label: label.to_owned(),
        suffix,
        known_suffix: known,
        subdomain: trimmed.get(..sub_len).unwrap_or("").to_owned(),
    }
}

/// Shannon entropy (bits per byte) of `b`; 0 for an empty slice.
pub(crate) fn entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in b {
        counts[c as usize] += 1;
    }
    entropy_of_counts(&counts, b.len())
}

/// Shannon entropy (bits per byte) of `n` bytes counted per value in `counts`.
pub(crate) fn entropy_of_counts(counts: &[u32; 256], n: usize) -> f64 {
    let n = n as f64;
    -counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            p * p.log2()
        })
        .sum::<f64>()
}

/// Whether a name is a reverse lookup (`in-addr.arpa`, `ip6.arpa`), whose labels are digits by design.
pub fn is_reverse_lookup(name: &str) -> bool {
    let n = name.trim_end_matches('.').as_bytes();
    let ends = |s: &[u8]| n.len() >= s.len() && n[n.len() - s.len()..].eq_ignore_ascii_case(s);
    ends(b".in-addr.arpa") || ends(b".ip6.arpa")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_public_suffix() {
        let p = split_name("www.google.com.");
        assert_eq!(
            (p.registered.as_str(), p.subdomain.as_str()),
            ("google.com", "www")
        );
        assert!(p.known_suffix);
        let p = split_name("ysogekiz.bazar");
        assert_eq!(p.label, "ysogekiz");
        assert!(!p.known_suffix);
        let p = split_name("co.uk");
        assert_eq!(p.subdomain, "");
        let p = split_name("q+Z8AnwaBA.hidemyself.org.");
        assert_eq!(p.registered, "hidemyself.org");
        assert_eq!(p.subdomain, "q+Z8AnwaBA");
        assert!(is_reverse_lookup("8.8.8.8.in-addr.arpa."));
        assert!(!is_reverse_lookup("arpa.example.com"));
    }
}
