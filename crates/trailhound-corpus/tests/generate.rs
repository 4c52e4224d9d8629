//! The generator is deterministic, writes what the ingest pipeline reads without a single
//! rejection, and the injected attacks are really in the logs where the ground truth says.

use std::collections::BTreeMap;
use std::path::Path;

use trailhound_corpus::{CorpusSpec, generate};
use trailhound_ingest::{ScanOptions, TimeRange, discover, scan};
use trailhound_model::{CloudTrailRecord, DnsRecord, FlowRecord, LogKind, RecordSink};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        out.insert(
            e.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
            std::fs::read(&e).unwrap(),
        );
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let spec = |d: &Path, seed| CorpusSpec {
        size: 2 << 20,
        object_bytes: 256 << 10,
        attacks: true,
        ..CorpusSpec::new(d, seed)
    };
    generate(&spec(a.path(), 5)).unwrap();
    generate(&spec(b.path(), 5)).unwrap();
    generate(&spec(c.path(), 6)).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert!(fa.len() > 8);
    assert_eq!(fa, fb);
    assert_ne!(fa, fc);
}

#[derive(Default)]
struct Census {
    apis: BTreeMap<String, u64>,
    identity_types: BTreeMap<String, u64>,
    errors: u64,
    stop_logging_keys: Vec<String>,
    ssh_from_attacker: u64,
    rejects: u64,
    accepts: u64,
    v6: u64,
    dns_names: BTreeMap<String, u64>,
}

impl RecordSink for Census {
    fn cloudtrail(&mut self, r: &CloudTrailRecord<'_>) {
        *self.apis.entry(r.event_name.to_string()).or_default() += 1;
        *self
            .identity_types
            .entry(r.identity.kind.as_deref().unwrap_or("-").to_owned())
            .or_default() += 1;
        self.errors += u64::from(r.error_code.is_some());
        if r.event_name == "StopLogging" && r.source_ip.as_deref() == Some("198.51.100.77") {
            self.stop_logging_keys
                .push(r.identity.access_key_id.as_deref().unwrap_or("").to_owned());
        }
    }
    fn flow(&mut self, r: &FlowRecord<'_>) {
        if r.dstport == Some(22) && r.srcaddr == "203.0.113.50".parse().ok() {
            self.ssh_from_attacker += 1;
        }
        match r.action {
            Some(trailhound_model::FlowAction::Reject) => self.rejects += 1,
            Some(_) => self.accepts += 1,
            None => {}
        }
        self.v6 += u64::from(r.srcaddr.is_some_and(|a| a.is_ipv6()));
    }
    fn dns(&mut self, r: &DnsRecord<'_>) {
        let name = r.name();
        let mut labels: Vec<&str> = name.rsplit('.').take(2).collect();
        labels.reverse();
        let parent = labels.join(".");
        *self.dns_names.entry(parent).or_default() += 1;
    }
}

fn merge(mut a: Census, b: Census) -> Census {
    for (k, v) in b.apis {
        *a.apis.entry(k).or_default() += v;
    }
    for (k, v) in b.identity_types {
        *a.identity_types.entry(k).or_default() += v;
    }
    for (k, v) in b.dns_names {
        *a.dns_names.entry(k).or_default() += v;
    }
    a.errors += b.errors;
    a.stop_logging_keys.extend(b.stop_logging_keys);
    a.ssh_from_attacker += b.ssh_from_attacker;
    a.rejects += b.rejects;
    a.accepts += b.accepts;
    a.v6 += b.v6;
    a
}

#[test]
fn realistic_variety_and_injected_attacks_are_readable() {
    let dir = tempfile::tempdir().unwrap();
    let report = generate(&CorpusSpec {
        size: 24 << 20,
        object_bytes: 1 << 20,
        attacks: true,
        ..CorpusSpec::new(dir.path(), 3)
    })
    .unwrap();
    let found = discover(&[dir.path().to_path_buf()], &TimeRange::default());
    let (c, s) = scan(
        &found.objects,
        &ScanOptions::default(),
        Census::default,
        merge,
        &|_| {},
    )
    .unwrap();
    assert_eq!(s.totals.records_rejected, 0, "{:?}", s.errors);
    assert_eq!(s.totals.objects_failed, 0);
    assert_eq!(s.totals.records_read, report.records);
    assert!(c.apis.len() > 150, "only {} API names", c.apis.len());
    let top = c.apis.values().max().unwrap();
    let median = {
        let mut v: Vec<_> = c.apis.values().collect();
        v.sort();
        *v[v.len() / 2]
    };
    assert!(
        *top > 20 * median,
        "API frequencies are skewed: top {top}, median {median}"
    );
    for t in [
        "IAMUser",
        "AssumedRole",
        "AWSService",
        "Root",
        "FederatedUser",
        "AWSAccount",
        "WebIdentityUser",
        "SAMLUser",
        "IdentityCenterUser",
        "Unknown",
    ] {
        assert!(c.identity_types.contains_key(t), "no {t}");
    }
    let ct_records: u64 = c.apis.values().sum();
    assert!(
        c.errors * 100 > ct_records * 2 && c.errors * 100 < ct_records * 8,
        "errors {} of {ct_records}",
        c.errors
    );
    assert!(
        c.rejects * 100 > (c.accepts + c.rejects) * 5,
        "some rejects"
    );
    assert!(c.v6 > 0);
    // Ground truth matches the logs.
    assert_eq!(c.stop_logging_keys, vec!["AKIAATTACKSTOPLOG001"]);
    let ssh = report
        .ground_truth
        .iter()
        .find(|t| t.scenario == "ssh-brute-force-inbound")
        .unwrap();
    assert_eq!(c.ssh_from_attacker, ssh.records);
    assert_eq!(c.dns_names.get("exfil-tunnel.example"), Some(&300));
    assert!(report.ground_truth.iter().all(|t| !t.object.is_empty()));
    assert!(report.ground_truth.iter().any(|t| t.kind == LogKind::Dns));
}
