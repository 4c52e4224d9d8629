//! Domain-generation-algorithm scoring: how unlike an ordinary registered domain a name is.
//!
//! Malware that finds its command server through a DGA queries many registered domains made of
//! letters no person would choose. The score is a logistic model over features of the registrable
//! label: character trigram and bigram log-likelihoods under a model of ordinary domains (and how
//! many of the label's n-grams ordinary domains never use), length, entropy, longest consonant
//! run, digit, vowel and distinct-character ratios, hyphens, and whether the suffix is a real
//! public suffix and how common it is. The model is text in `rules/models/dga.model`, embedded in
//! the binary; [`train`] rebuilds it (`trailhound rules train-dga`).
//!
//! Dictionary-word DGAs (suppobox, gozi, nymaim2, matsnu-like families) concatenate real words and
//! are not separable from ordinary domains by character statistics; the per-family figures in
//! `docs/findings.md` name them.

// Index loops read more plainly than iterator chains in the small linear algebra below.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use super::{NameParts, split_name};

const A: usize = 41;
const START: usize = 39;
const END: usize = 40;
const VOCAB: f64 = A as f64;

/// Names of the model's features, in order (the model file lists them as a check).
pub const FEATURES: [&str; 19] = [
    "unseen_trigrams",
    "unseen_bigrams",
    "trigram_lp_q25",
    "trigram_lp_median",
    "trigram_lp_mean",
    "trigram_lp_min",
    "bigram_lp_mean",
    "bigram_lp_min",
    "trigram_lp_sum",
    "length",
    "log_length",
    "entropy",
    "max_consonant_run",
    "digit_ratio",
    "vowel_ratio",
    "hyphens",
    "known_suffix",
    "log_suffix_count",
    "distinct_ratio",
];

fn ci(b: u8) -> usize {
    match b {
        b'a'..=b'z' => (b - b'a') as usize,
        b'0'..=b'9' => 26 + (b - b'0') as usize,
        b'-' => 36,
        b'_' => 37,
        _ => 38,
    }
}

/// Character n-gram counts of ordinary labels.
#[derive(Debug, Clone)]
pub struct NGrams {
    tri: Vec<u32>,
    tri_ctx: Vec<u32>,
    bi: Vec<u32>,
    bi_ctx: Vec<u32>,
    suffixes: HashMap<String, u32>,
}

impl Default for NGrams {
    fn default() -> Self {
        NGrams {
            tri: vec![0; A * A * A],
            tri_ctx: vec![0; A * A],
            bi: vec![0; A * A],
            bi_ctx: vec![0; A],
            suffixes: HashMap::new(),
        }
    }
}

fn padded(label: &str) -> Vec<usize> {
    let mut v = Vec::with_capacity(label.len() + 2);
    v.push(START);
    v.extend(label.bytes().map(ci));
    v.push(END);
    v
}

impl NGrams {
    fn add_tri(&mut self, i: usize, n: u32) {
        self.tri[i] += n;
        self.tri_ctx[i / A] += n;
    }
    fn add_bi(&mut self, i: usize, n: u32) {
        self.bi[i] += n;
        self.bi_ctx[i / A] += n;
    }
    /// Counts the registrable label and suffix of an ordinary domain.
    pub fn learn(&mut self, domain: &str) {
        let p = split_name(domain);
        let s = padded(&p.label);
        for w in s.windows(3) {
            self.add_tri((w[0] * A + w[1]) * A + w[2], 1);
        }
        for w in s.windows(2) {
            self.add_bi(w[0] * A + w[1], 1);
        }
        *self.suffixes.entry(p.suffix).or_default() += 1;
    }
}

/// The features of one name (see [`FEATURES`]).
pub fn features(ng: &NGrams, name: &str) -> [f64; 19] {
    features_of_parts(ng, &split_name(name))
}

/// [`features`] of a name already split at its public suffix.
pub fn features_of_parts(ng: &NGrams, p: &NameParts) -> [f64; 19] {
    let label = p.label.as_str();
    let s = padded(label);
    let len = label.len() as f64;
    let mut tri: Vec<f64> = Vec::with_capacity(s.len());
    let mut unseen3 = 0usize;
    for w in s.windows(3) {
        let i = (w[0] * A + w[1]) * A + w[2];
        let c = ng.tri[i];
        if c == 0 {
            unseen3 += 1;
        }
        tri.push(((c as f64 + 0.5) / (ng.tri_ctx[i / A] as f64 + 0.5 * VOCAB)).ln());
    }
    let mut bi_sum = 0.0;
    let mut bi_min = 0.0f64;
    let mut unseen2 = 0usize;
    let nb = s.len().saturating_sub(1).max(1) as f64;
    for w in s.windows(2) {
        let i = w[0] * A + w[1];
        let c = ng.bi[i];
        if c == 0 {
            unseen2 += 1;
        }
        let lp = ((c as f64 + 0.5) / (ng.bi_ctx[w[0]] as f64 + 0.5 * VOCAB)).ln();
        bi_sum += lp;
        bi_min = bi_min.min(lp);
    }
    let nt = tri.len().max(1) as f64;
    let tri_sum: f64 = tri.iter().sum();
    let tri_min = tri.iter().copied().fold(0.0f64, f64::min);
    let mut sorted = tri.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |f: f64| {
        sorted
            .get((sorted.len() as f64 * f) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut counts = [0u32; 256];
    for b in label.bytes() {
        counts[b as usize] += 1;
    }
    let entropy = if len > 0.0 {
        super::entropy_of_counts(&counts, label.len())
    } else {
        0.0
    };
    let distinct = counts.iter().filter(|&&c| c > 0).count() as f64;
    let vowel = |b: u8| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u');
    let (mut run, mut max_run) = (0usize, 0usize);
    for b in label.bytes() {
        if b.is_ascii_alphabetic() && !vowel(b) {
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
    }
    let l1 = len.max(1.0);
    let digits = label.bytes().filter(u8::is_ascii_digit).count() as f64;
    let vowels = label.bytes().filter(|&b| vowel(b)).count() as f64;
    let hyphens = label.bytes().filter(|&b| b == b'-').count() as f64;
    let suffix_count = ng.suffixes.get(&p.suffix).copied().unwrap_or(0) as f64;
    [
        unseen3 as f64 / nt,
        unseen2 as f64 / nb,
        q(0.25),
        q(0.5),
        tri_sum / nt,
        tri_min,
        bi_sum / nb,
        bi_min,
        tri_sum,
        len,
        (len + 1.0).ln(),
        entropy,
        max_run as f64,
        digits / l1,
        vowels / l1,
        hyphens,
        if p.known_suffix { 1.0 } else { 0.0 },
        (suffix_count + 1.0).ln(),
        distinct / l1,
    ]
}

/// A trained DGA model: n-gram counts plus a standardised logistic regression.
#[derive(Debug, Clone)]
pub struct Model {
    ngrams: NGrams,
    mean: [f64; 19],
    std: [f64; 19],
    weights: [f64; 19],
    bias: f64,
    /// The score at which this model flagged 1 % of the ordinary domains it was calibrated on.
    pub threshold: f64,
}

/// An error reading a model file.
#[derive(Debug, thiserror::Error)]
#[error("DGA model line {line}: {message}")]
pub struct ModelError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn parse_vec(line: usize, rest: &str) -> Result<[f64; 19], ModelError> {
    let v: Vec<f64> = rest
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| ModelError {
            line,
            message: format!("bad number: {e}"),
        })?;
    v.try_into().map_err(|v: Vec<f64>| ModelError {
        line,
        message: format!("expected {} numbers, found {}", FEATURES.len(), v.len()),
    })
}

impl Model {
    /// The model bundled in the binary (`rules/models/dga.model`).
    pub fn bundled() -> &'static Model {
        static M: LazyLock<Model> = LazyLock::new(|| {
            Model::parse(include_str!("../../../../rules/models/dga.model"))
                .unwrap_or_else(|e| panic!("bundled DGA model is invalid: {e}"))
        });
        &M
    }

    /// The model's score for a name: the logistic regression's log-odds (higher is more DGA-like).
    /// Names that cannot be a registered DGA domain score [`NOT_SCORED`]: names under a
    /// private-use top-level domain (`.internal`, `.local`, `.corp`, …; VPC host names) and names
    /// that are themselves a public suffix (`s3.us-east-1.amazonaws.com`).
    pub fn score(&self, name: &str) -> f64 {
        self.score_parts(name, &split_name(name))
    }

    /// [`Model::score`] of `name` already split at its public suffix (`parts` is
    /// `split_name(name)`): what the engine calls, so that one split serves every computed field.
    pub fn score_parts(&self, name: &str, parts: &NameParts) -> f64 {
        if !scorable(name, parts) {
            return NOT_SCORED;
        }
        let f = features_of_parts(&self.ngrams, parts);
        let mut z = self.bias;
        for i in 0..f.len() {
            z += self.weights[i] * (f[i] - self.mean[i]) / self.std[i];
        }
        z
    }

    /// Reads a model from its text form.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let mut ng = NGrams::default();
        let (mut mean, mut std, mut weights) = (None, None, None);
        let (mut bias, mut threshold) = (None, None);
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let err = |m: &str| ModelError {
                line: n,
                message: m.to_owned(),
            };
            let num = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .map_err(|e| err(&format!("bad number: {e}")))
            };
            match key {
                "features" => {
                    if rest.split_whitespace().ne(FEATURES.iter().copied()) {
                        return Err(err("feature list differs from this build's"));
                    }
                }
                "tri" | "bi" => {
                    let (idx, c) = rest
                        .split_once(' ')
                        .ok_or_else(|| err("expected index and count"))?;
                    let idx: usize = idx.parse().map_err(|_| err("bad index"))?;
                    let c: u32 = c.trim().parse().map_err(|_| err("bad count"))?;
                    if key == "tri" && idx < A * A * A {
                        ng.add_tri(idx, c);
                    } else if key == "bi" && idx < A * A {
                        ng.add_bi(idx, c);
                    } else {
                        return Err(err("index out of range"));
                    }
                }
                "suffix" => {
                    let (s, c) = rest
                        .rsplit_once(' ')
                        .ok_or_else(|| err("expected suffix and count"))?;
                    let c: u32 = c.trim().parse().map_err(|_| err("bad count"))?;
                    ng.suffixes.insert(s.to_owned(), c);
                }
                "mean" => mean = Some(parse_vec(n, rest)?),
                "std" => std = Some(parse_vec(n, rest)?),
                "weights" => weights = Some(parse_vec(n, rest)?),
                "bias" => bias = Some(num(rest)?),
                "threshold" => threshold = Some(num(rest)?),
                other => return Err(err(&format!("unknown key `{other}`"))),
            }
        }
        let missing = |k: &str| ModelError {
            line: 0,
            message: format!("missing `{k}`"),
        };
        Ok(Model {
            ngrams: ng,
            mean: mean.ok_or_else(|| missing("mean"))?,
            std: std.ok_or_else(|| missing("std"))?,
            weights: weights.ok_or_else(|| missing("weights"))?,
            bias: bias.ok_or_else(|| missing("bias"))?,
            threshold: threshold.ok_or_else(|| missing("threshold"))?,
        })
    }

    /// The model's text form (what [`Model::parse`] reads).
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# trailhound DGA model: character n-grams of ordinary domains + logistic regression.\n\
             # Built by `trailhound rules train-dga`; see docs/findings.md.\n",
        );
        let vec = |v: &[f64; 19]| {
            v.iter()
                .map(|x| format!("{x:.6}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(out, "features {}", FEATURES.join(" "));
        let _ = writeln!(out, "mean {}", vec(&self.mean));
        let _ = writeln!(out, "std {}", vec(&self.std));
        let _ = writeln!(out, "weights {}", vec(&self.weights));
        let _ = writeln!(out, "bias {:.6}", self.bias);
        let _ = writeln!(out, "threshold {:.4}", self.threshold);
        let mut sfx: Vec<_> = self.ngrams.suffixes.iter().collect();
        sfx.sort();
        for (s, c) in sfx {
            let _ = writeln!(out, "suffix {s} {c}");
        }
        for (i, &c) in self.ngrams.tri.iter().enumerate().filter(|(_, c)| **c > 0) {
            let _ = writeln!(out, "tri {i} {c}");
        }
        for (i, &c) in self.ngrams.bi.iter().enumerate().filter(|(_, c)| **c > 0) {
            let _ = writeln!(out, "bi {i} {c}");
        }
        out
    }
}

/// The score of names the model does not judge (far below any threshold).
pub const NOT_SCORED: f64 = -100.0;

/// Top-level domains reserved or used for private names (RFC 2606, RFC 6762, RFC 8375, ICANN's
/// 2024 `.internal` reservation, and common corporate choices).
const PRIVATE_TLDS: &[&str] = &[
    "internal",
    "local",
    "localdomain",
    "localhost",
    "lan",
    "corp",
    "home",
    "intranet",
    "private",
    "test",
    "example",
    "invalid",
    "arpa",
];

fn scorable(name: &str, p: &NameParts) -> bool {
    let n = name.trim_end_matches('.');
    let tld = n.rsplit('.').next().unwrap_or(n);
    if PRIVATE_TLDS.iter().any(|t| t.eq_ignore_ascii_case(tld)) {
        return false;
    }
    let bare_suffix = p.subdomain.is_empty() && p.registered == p.suffix;
    !bare_suffix && !p.label.contains('.')
}

/// The bundled model's score for `name` (log-odds; the bundled rules' thresholds are in this unit).
pub fn score(name: &str) -> f64 {
    Model::bundled().score(name)
}

/// Training data for [`train`].
#[derive(Debug, Default)]
pub struct TrainingSet<'a> {
    /// Ordinary domains for the character n-gram model.
    pub ngram_domains: Vec<&'a str>,
    /// Ordinary domains for the regression (not the n-gram ones, or their likelihoods would be
    /// too good to be true).
    pub benign: Vec<&'a str>,
    /// DGA domains for the regression.
    pub dga: Vec<&'a str>,
    /// The share of `benign` the threshold may flag (0.01 for 1 %).
    pub benign_rate: f64,
}

/// The domains of a list file: one a line, lines without a dot (headers, comments) skipped.
pub fn domain_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|l| l.trim().trim_end_matches('.'))
        .filter(|l| l.contains('.') && !l.starts_with('#'))
        .collect()
}

/// How training splits a list of ordinary domains: lines 0 and 1 of every 4 train the n-gram
/// model, line 2 the regression, line 3 is held out for evaluation.
pub fn split_benign<'a>(list: &[&'a str]) -> [Vec<&'a str>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for (i, d) in list.iter().enumerate() {
        out[match i % 4 {
            0 | 1 => 0,
            2 => 1,
            _ => 2,
        }]
        .push(*d);
    }
    out
}

/// How training splits a list of DGA domains: even lines train (at most `cap` of them, so that
/// prolific families do not drown the rest), odd lines are held out for evaluation.
pub fn split_dga<'a>(list: &[&'a str], cap: usize) -> [Vec<&'a str>; 2] {
    let train = list.iter().step_by(2).take(cap).copied().collect();
    let held = list.iter().skip(1).step_by(2).copied().collect();
    [train, held]
}

/// Fits a model: n-gram counts, then a class-balanced L2 logistic regression by Newton's method,
/// then the threshold at the `benign_rate` quantile of the benign scores.
pub fn train(set: &TrainingSet<'_>) -> Model {
    let mut ng = NGrams::default();
    for d in &set.ngram_domains {
        ng.learn(d);
    }
    let rows: Vec<([f64; 19], f64)> = set
        .benign
        .iter()
        .map(|d| (features(&ng, d), 0.0))
        .chain(set.dga.iter().map(|d| (features(&ng, d), 1.0)))
        .collect();
    const K: usize = 19;
    let n = rows.len().max(1) as f64;
    let mut mean = [0.0; K];
    let mut std = [0.0; K];
    for (x, _) in &rows {
        for k in 0..K {
            mean[k] += x[k] / n;
        }
    }
    for (x, _) in &rows {
        for k in 0..K {
            std[k] += (x[k] - mean[k]).powi(2) / n;
        }
    }
    for s in &mut std {
        *s = s.sqrt().max(1e-9);
    }
    let (nb, nd) = (set.benign.len().max(1) as f64, set.dga.len().max(1) as f64);
    let (wb, wd) = (n / (2.0 * nb), n / (2.0 * nd));
    // Newton's method on [bias, weights] with an L2 penalty on the weights.
    const D: usize = K + 1;
    let mut beta = [0.0f64; D];
    let lambda = 1e-2;
    for _ in 0..25 {
        let mut g = [0.0f64; D];
        let mut h = [[0.0f64; D]; D];
        for (x, y) in &rows {
            let mut z = [1.0f64; D];
            for k in 0..K {
                z[k + 1] = (x[k] - mean[k]) / std[k];
            }
            let eta: f64 = (0..D).map(|j| beta[j] * z[j]).sum();
            let p = 1.0 / (1.0 + (-eta).exp());
            let w = if *y > 0.5 { wd } else { wb };
            for j in 0..D {
                g[j] += w * (p - y) * z[j];
                for l in 0..D {
                    h[j][l] += w * p * (1.0 - p) * z[j] * z[l];
                }
            }
        }
        for j in 1..D {
            g[j] += lambda * beta[j];
            h[j][j] += lambda;
        }
        h[0][0] += 1e-9;
        let step = solve(h, g);
        let mut moved = 0.0f64;
        for j in 0..D {
            beta[j] -= step[j];
            moved = moved.max(step[j].abs());
        }
        if moved < 1e-7 {
            break;
        }
    }
    let mut weights = [0.0; K];
    weights.copy_from_slice(&beta[1..]);
    let mut model = Model {
        ngrams: ng,
        mean,
        std,
        weights,
        bias: beta[0],
        threshold: 0.0,
    };
    let mut scores: Vec<f64> = set.benign.iter().map(|d| model.score(d)).collect();
    scores.sort_by(f64::total_cmp);
    let idx = ((scores.len() as f64) * (1.0 - set.benign_rate)).floor() as usize;
    model.threshold = scores
        .get(idx.min(scores.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    model
}

/// Solves `h x = g` by Gaussian elimination with partial pivoting.
fn solve<const D: usize>(mut h: [[f64; D]; D], mut g: [f64; D]) -> [f64; D] {
    for c in 0..D {
        let p = (c..D)
            .max_by(|&a, &b| h[a][c].abs().total_cmp(&h[b][c].abs()))
            .unwrap_or(c);
        h.swap(c, p);
        g.swap(c, p);
        let d = h[c][c];
        if d.abs() < 1e-12 {
            continue;
        }
        for r in c + 1..D {
            let f = h[r][c] / d;
            for k in c..D {
                h[r][k] -= f * h[c][k];
            }
            g[r] -= f * g[c];
        }
    }
    let mut x = [0.0; D];
    for c in (0..D).rev() {
        let s: f64 = (c + 1..D).map(|k| h[c][k] * x[k]).sum();
        x[c] = if h[c][c].abs() < 1e-12 {
            0.0
        } else {
            (g[c] - s) / h[c][c]
        };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let m = Model::bundled();
        let again = Model::parse(&m.to_text()).unwrap();
        for d in ["google.com", "xjvyvnzivvt.net", "ysogekiz.bazar", "a.b"] {
            assert!((m.score(d) - again.score(d)).abs() < 1e-3, "{d}");
        }
    }

    #[test]
    fn private_and_suffix_names_are_not_scored() {
        for n in [
            "nonexistent.internal.",
            "ip-10-0-0-1.ec2.internal",
            "s3.us-east-1.amazonaws.com",
            "printer.local",
        ] {
            assert_eq!(score(n), NOT_SCORED, "{n}");
        }
        assert!(score("xgvtmdqswnvhqjrlmjad.com") > 3.0);
    }

    #[test]
    fn bad_model_names_line() {
        let e = Model::parse("mean 1 2\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("expected 19 numbers"));
    }

    #[test]
    fn training_separates_random_from_words() {
        let words = [
            "mail", "shop", "news", "cloud", "photo", "travel", "bank", "green", "data", "music",
        ];
        let benign: Vec<String> = words
            .iter()
            .flat_map(|a| words.iter().map(move |b| format!("{a}{b}.com")))
            .collect();
        let mut r = 7u64;
        let dga: Vec<String> = (0..100)
            .map(|_| {
                (0..12)
                    .map(|_| {
                        r = r
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (b'a' + ((r >> 33) % 26) as u8) as char
                    })
                    .collect::<String>()
                    + ".com"
            })
            .collect();
        let set = TrainingSet {
            ngram_domains: benign.iter().step_by(2).map(String::as_str).collect(),
            benign: benign
                .iter()
                .skip(1)
                .step_by(2)
                .map(String::as_str)
                .collect(),
            dga: dga.iter().take(50).map(String::as_str).collect(),
            benign_rate: 0.01,
        };
        let m = train(&set);
        let flagged = dga[50..]
            .iter()
            .filter(|d| m.score(d) > m.threshold)
            .count();
        assert!(
            flagged >= 45,
            "{flagged} of 50 held-out random names flagged"
        );
        assert!(m.score("musicbank.com") < m.threshold);
    }
}
