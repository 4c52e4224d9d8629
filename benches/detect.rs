//! Detection cost (criterion, one core): the same 8 MiB CloudTrail object parsed only, then run
//! through the bundled pack, then through the bundled pack plus SigmaHQ's AWS rules. Each bench
//! asserts its record count and that the rule runs find what they found the first time.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailhound_corpus::{cloudtrail, rng::Rng};
use trailhound_detect::{Detector, Plan};
use trailhound_ingest::read::{ObjectStats, TimeRange, read_cloudtrail};
use trailhound_model::NullSink;
use trailhound_rules::{LoadOptions, load};

fn object() -> (String, u64) {
    let mut r = Rng::new(&[9]);
    let mut s = String::from("{\"Records\":[");
    let mut n = 0u64;
    while s.len() < 8 << 20 {
        if n > 0 {
            s.push(',');
        }
        cloudtrail::record(
            &mut r,
            "111122223333",
            1_717_200_000_000 + n as i64 * 1000,
            &mut s,
        );
        n += 1;
    }
    s.push_str("]}");
    (s, n)
}

fn detect(c: &mut Criterion) {
    let (text, n) = object();
    let range = TimeRange::default();
    let mut g = c.benchmark_group("detect");
    g.sample_size(15);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse_only_8MiB", |b| {
        b.iter(|| {
            let mut st = ObjectStats::default();
            read_cloudtrail(black_box(&text), &range, &mut NullSink, &mut st);
            assert_eq!(st.parsed, n);
        })
    });
    let sigmahq = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/public/sigmahq-aws-cloudtrail");
    for (name, paths) in [
        ("bundled_pack_8MiB", vec![]),
        ("bundled_and_sigmahq_8MiB", vec![sigmahq]),
    ] {
        let (set, _) = load(&LoadOptions {
            bundled: true,
            paths,
            ..LoadOptions::default()
        });
        let plan = Arc::new(Plan::new(&set, &[]));
        let run = || {
            let mut d = Detector::new(plan.clone());
            let mut st = ObjectStats::default();
            read_cloudtrail(black_box(&text), &range, &mut d, &mut st);
            assert_eq!(st.parsed, n);
            d.finish().len()
        };
        let expected = run();
        g.bench_function(name, |b| b.iter(|| assert_eq!(run(), expected)));
    }
    g.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
