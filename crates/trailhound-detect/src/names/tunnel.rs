//! DNS tunnelling: query names whose labels carry encoded data.
//!
//! Tools such as iodine, dns2tcp, dnscat2 and dnscapy put base32/base64/hex payloads in the labels
//! left of a domain they control. [`score`] adds evidence from those labels (characters outside
//! the host-name alphabet, long labels, mixed case, high character entropy, sequence-number
//! labels, deep nesting); one strong signal or several weak ones pass the bundled rule's
//! threshold of 1.0 (any name with labels left of its registered domain scores at least 0.1). Short tunnel queries (`c.1.13111.tunnel.example.org`) carry too little to
//! judge alone; the bundled correlation catches them by the number of distinct names one instance
//! asks under one registered domain. Reverse lookups (`in-addr.arpa`, `ip6.arpa`) score 0.

use super::{NameParts, entropy, is_reverse_lookup, split_name};

/// Evidence points for `name` being a tunnel query (0 for a name with nothing left of its
/// registered domain).
pub fn score(name: &str) -> f64 {
    if is_reverse_lookup(name) {
        return 0.0;
    }
    subdomain_score(&split_name(name).subdomain)
}

/// [`score`] of `name` already split at its public suffix (`parts` is `split_name(name)`).
pub fn score_parts(name: &str, parts: &NameParts) -> f64 {
    if is_reverse_lookup(name) {
        return 0.0;
    }
    subdomain_score(&parts.subdomain)
}

/// [`score`] for the labels left of the registered domain.
pub fn subdomain_score(sub: &str) -> f64 {
    if sub.is_empty() {
        return 0.0;
    }
    // Any name below a registered domain scores a little, so a rule can count them all.
    let mut s = 0.1;
    let b = sub.as_bytes();
    if b.iter()
        .any(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'))
    {
        s += 1.0;
    }
    let labels: Vec<&str> = sub.split('.').collect();
    let longest = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    s += match longest {
        52.. => 1.0,
        32..=51 => 0.6,
        20..=31 => 0.3,
        _ => 0.0,
    };
    if sub.len() >= 60 {
        s += 0.4;
    }
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let lower = b.iter().filter(|c| c.is_ascii_lowercase()).count();
    if upper >= 3 && lower >= 3 {
        s += 0.5;
    }
    let text: Vec<u8> = b.iter().copied().filter(|&c| c != b'.').collect();
    if text.len() >= 16 && entropy(&text) >= 3.8 {
        s += 0.4;
    }
    if labels.len() >= 3
        && labels
            .iter()
            .any(|l| l.len() >= 4 && l.bytes().all(|c| c.is_ascii_digit()))
    {
        s += 0.3;
    }
    if labels.len() >= 4 {
        s += 0.2;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_labels_score_and_hostnames_do_not() {
        assert!(score("q+Z8AnwaBA.hidemyself.org.") >= 1.0);
        assert!(
            score("paaamiiiaaqmijqpabamikapabimikipabqmikqpabymikyr4k2j3h5g6f7d8x.hidemyself.org")
                >= 1.0
        );
        assert!(score("www.google.com") < 0.5);
        assert_eq!(score("www.google.com"), 0.1);
        assert!(score("ec2-54-1-2-3.compute-1.amazonaws.com") < 1.0);
        assert_eq!(score("1.0.17.172.in-addr.arpa"), 0.0);
        assert_eq!(score("example.com"), 0.0);
    }
}
