//! Output cost (criterion): 20,000 findings (half API-call findings, half flow findings, shaped
//! like a scan's) serialised as JSON lines, ASFF, Parquet and OCSF Parquet. Throughput is in
//! findings, so the figures compare formats directly; each bench asserts the size it wrote.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailhound_detect::finding::{Evidence, Finding, Resource};
use trailhound_output::{asff, jsonl, parquet};

const N: usize = 20_000;

fn findings() -> Vec<Finding> {
    // The rule's texts, shared by its findings as a scan's are.
    let title: Arc<str> = "A principal called a discovery API it never called before".into();
    let description: Arc<str> = "An API used to discover resources was called by a principal \
        from an address, user agent or region it has not used before. Check who holds the \
        credentials and whether the calls were expected."
        .into();
    let rule_id: Arc<str> = "th-ct-0031".into();
    let rule_path: Arc<str> =
        "rules/cloudtrail/discovery/th-ct-0031_anomalous_discovery.yml".into();
    let attack: Arc<[String]> = ["attack.discovery".into(), "attack.t1580".into()].into();
    (0..N)
        .map(|i| {
            let api = i % 2 == 0;
            let evidence = if api {
                Evidence {
                    event_id: Some(format!("{i:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b")),
                    api: Some("DescribeInstances".into()),
                    service: Some("ec2.amazonaws.com".into()),
                    caller: Some(format!("198.51.100.{}", i % 250)),
                    user_agent: Some("aws-cli/2.15.0 Python/3.11.6".into()),
                    ..Evidence::default()
                }
            } else {
                Evidence {
                    src_addr: Some(format!("203.0.113.{}", i % 250)),
                    src_port: Some(40_000 + (i % 20_000) as u16),
                    dst_addr: Some(format!("10.0.{}.{}", i % 200, i % 250)),
                    dst_port: Some(22),
                    protocol: Some(6),
                    action: Some("ACCEPT".into()),
                    ..Evidence::default()
                }
            };
            Finding {
                id: format!("{i:032x}"),
                finding_type: if api {
                    "Discovery:IAMUser/AnomalousBehavior".into()
                } else {
                    "Recon:EC2/PortProbeUnprotectedPort".into()
                },
                severity: if api { 2.0 } else { 5.0 },
                severity_label: if api { "Low" } else { "Medium" },
                title: title.clone(),
                description: description.clone(),
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into()),
                resource: if api {
                    Resource {
                        kind: "AccessKey".into(),
                        id: format!("AKIA{i:016}"),
                    }
                } else {
                    Resource {
                        kind: "Instance".into(),
                        id: format!("i-{i:017x}"),
                    }
                },
                count: 1 + (i as u64 % 7),
                first_seen: 1_717_204_741_000,
                last_seen: 1_717_208_341_000,
                rule_id: rule_id.clone(),
                rule_path: rule_path.clone(),
                attack: attack.clone(),
                samples: vec![format!("sample event {i}")],
                evidence: vec![evidence],
            }
        })
        .collect()
}

fn output(c: &mut Criterion) {
    let f = findings();
    let o = asff::AsffOptions::default();
    let mut g = c.benchmark_group("output");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("jsonl_20k", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let r = jsonl::write(&mut out, black_box(&f)).map_err(|e| e.to_string());
            assert!(r.is_ok() && out.len() > N * 500);
        })
    });
    g.bench_function("asff_20k", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let r = asff::write_json(&mut out, black_box(&f), &o).map_err(|e| e.to_string());
            assert!(r.is_ok() && out.len() > N * 1000);
        })
    });
    g.bench_function("parquet_20k", |b| {
        b.iter(|| {
            let c = parquet::write_findings(Vec::new(), black_box(&f)).map_err(|e| e.to_string());
            assert!(c.is_ok_and(|c| c.len() > 10_000));
        })
    });
    g.bench_function("ocsf_parquet_20k", |b| {
        b.iter(|| {
            let c = parquet::write_ocsf(Vec::new(), black_box(&f)).map_err(|e| e.to_string());
            assert!(c.is_ok_and(|c| c.len() > 10_000));
        })
    });
    g.finish();
}

criterion_group!(benches, output);
criterion_main!(benches);
