//! Detection quality of the DGA and DNS-tunnelling detectors on data nobody in this project
//! wrote (`../shared/data/intel/`), at the thresholds the bundled rule files set. The figures
//! are printed (`cargo test -p trailhound-detect --test dns_quality -- --nocapture`) and
//! quoted in docs/quality.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trailhound_detect::names::{dga, tunnel};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The number after `key` in a bundled rule file (`dga_score|gte: 3.1`).
fn rule_param(file: &str, key: &str) -> f64 {
    let text = std::fs::read_to_string(root().join("rules").join(file)).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {file}"));
    let v = line.trim_start()[key.len()..]
        .trim()
        .trim_start_matches(':')
        .trim();
    v.trim_end_matches('}')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"))
}

fn benign_held_out() -> Vec<String> {
    let dir = root().join("../shared/data/intel/opendns-benign");
    let mut out = Vec::new();
    for f in ["opendns-top-domains.txt", "opendns-random-domains.txt"] {
        let t = std::fs::read_to_string(dir.join(f)).unwrap();
        let [_, _, held] = dga::split_benign(&dga::domain_lines(&t));
        out.extend(held.iter().map(|s| s.to_string()));
    }
    out
}

fn dga_held_out() -> BTreeMap<String, Vec<String>> {
    let dir = root().join("../shared/data/intel/baderj-dga");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut fams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in files {
        let name = p.file_name().unwrap().to_str().unwrap();
        let fam = name.split("__").next().unwrap().to_owned();
        let t = std::fs::read_to_string(&p).unwrap();
        let [_, held] = dga::split_dga(&dga::domain_lines(&t), 2000);
        fams.entry(fam)
            .or_default()
            .extend(held.iter().map(|s| s.to_string()));
    }
    fams.retain(|_, v| !v.is_empty());
    fams
}

#[test]
fn dga_detection_meets_the_catalog_thresholds() {
    let model = dga::Model::bundled();
    let t_query = rule_param(
        "dns/trojan/th-dns-0008_dga_domain_high_confidence.yml",
        "dga_score|gte",
    );
    let t_low = rule_param(
        "dns/trojan/th-dns-0007_dga_domain_request.yml",
        "dga_score|gte",
    );
    let k = rule_param(
        "dns/trojan/th-dns-0007_dga_domain_request.yml",
        "condition: {field: registered_domain, gte",
    ) as usize;
    let benign: Vec<f64> = benign_held_out().iter().map(|d| model.score(d)).collect();
    let fams: BTreeMap<String, Vec<f64>> = dga_held_out()
        .into_iter()
        .map(|(f, v)| (f, v.iter().map(|d| model.score(d)).collect()))
        .collect();

    let fp = benign.iter().filter(|&&s| s >= t_query).count() as f64 / benign.len() as f64;
    let (mut hit, mut n) = (0usize, 0usize);
    println!("| family | held-out domains | flagged per query |\n|---|---|---|");
    let mut rates = Vec::new();
    for (f, v) in &fams {
        let h = v.iter().filter(|&&s| s >= t_query).count();
        hit += h;
        n += v.len();
        rates.push(h as f64 / v.len() as f64);
        println!(
            "| {f} | {} | {:.1} % |",
            v.len(),
            100.0 * h as f64 / v.len() as f64
        );
    }
    let micro = hit as f64 / n as f64;
    let macro_ = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "per query at dga_score >= {t_query}: {:.2} % of {n} DGA domains ({:.1} % family average), {:.2} % of {} ordinary domains",
        100.0 * micro,
        100.0 * macro_,
        100.0 * fp,
        benign.len()
    );
    assert!(micro >= 0.85, "DGA per-query detection {micro}");
    assert!(fp <= 0.01, "benign per-query rate {fp}");

    // Per instance: 20 queries; flagged when at least k of them score >= t_low.
    let mut inst = (0usize, 0usize);
    for v in fams.values() {
        for chunk in v.chunks_exact(20) {
            inst.1 += 1;
            if chunk.iter().filter(|&&s| s >= t_low).count() >= k {
                inst.0 += 1;
            }
        }
    }
    let mut r = 0x5eed_u64;
    let trials = 20_000;
    let mut benign_hits = 0;
    for _ in 0..trials {
        let mut c = 0;
        for _ in 0..20 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if benign[(r >> 33) as usize % benign.len()] >= t_low {
                c += 1;
            }
        }
        if c >= k {
            benign_hits += 1;
        }
    }
    let dga_rate = inst.0 as f64 / inst.1 as f64;
    let benign_rate = benign_hits as f64 / trials as f64;
    println!(
        "per instance (20 queries, >= {k} at dga_score >= {t_low}): {:.2} % of {} DGA instances, {:.3} % of {trials} ordinary instances",
        100.0 * dga_rate,
        inst.1,
        100.0 * benign_rate
    );
    assert!(dga_rate >= 0.98, "DGA instances {dga_rate}");
    assert!(benign_rate <= 0.001, "benign instances {benign_rate}");
}

fn names(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(_, q)| q.to_owned()))
        .collect()
}

#[test]
fn tunnel_detection_meets_the_catalog_thresholds() {
    let t = rule_param(
        "dns/trojan/th-dns-0009_dns_data_exfiltration.yml",
        "tunnel_score|gte",
    );
    let dir = root().join("../shared/data/intel/dns-tunnel-netrack");
    let (mut hit, mut n) = (0usize, 0usize);
    for tool in ["iodine", "dns2tcp", "dnscapy"] {
        let v = names(&dir.join(format!("{tool}_names.csv")));
        assert!(!v.is_empty());
        let h = v.iter().filter(|q| tunnel::score(q) >= t).count();
        println!(
            "{tool}: {h} of {} names ({:.1} %)",
            v.len(),
            100.0 * h as f64 / v.len() as f64
        );
        hit += h;
        n += v.len();
    }
    let plain = names(&dir.join("plain_names.csv"));
    let fp = plain.iter().filter(|q| tunnel::score(q) >= t).count();
    let rate = hit as f64 / n as f64;
    let fp_rate = fp as f64 / plain.len() as f64;
    println!(
        "tunnel_score >= {t}: {:.2} % of {n} tunnel names, {:.3} % of {} plain names",
        100.0 * rate,
        100.0 * fp_rate,
        plain.len()
    );
    assert!(rate >= 0.95, "tunnel names flagged {rate}");
    assert!(fp_rate <= 0.005, "plain names flagged {fp_rate}");
}
