//! Per-reader throughput (criterion): gunzip, CloudTrail, VPC flow and resolver parsing, each on a
//! generated object of realistic size. Every benchmark asserts the record count it expects, so a
//! fast wrong answer fails instead of looking good.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailhound_corpus::{cloudtrail, netlogs, rng::Rng};
use trailhound_ingest::decompress::Inflater;
use trailhound_ingest::read::{ObjectStats, TimeRange, read_cloudtrail, read_dns, read_flow};
use trailhound_model::NullSink;

const T0: i64 = 1_717_200_000_000;

fn cloudtrail_object(bytes: usize) -> (String, u64) {
    let mut r = Rng::new(&[1]);
    let mut s = String::from("{\"Records\":[");
    let mut n = 0;
    while s.len() < bytes {
        if n > 0 {
            s.push(',');
        }
        cloudtrail::record(&mut r, "111122223333", T0 + n as i64, &mut s);
        n += 1;
    }
    s.push_str("]}");
    (s, n)
}

fn flow_object(bytes: usize, custom: bool) -> (String, u64) {
    let mut r = Rng::new(&[2]);
    let mut s = String::from(if custom {
        netlogs::V5_HEADER
    } else {
        netlogs::V2_HEADER
    });
    s.push('\n');
    let mut n = 0;
    while s.len() < bytes {
        netlogs::flow_line(&mut r, "111122223333", "us-east-1", custom, T0, &mut s);
        n += 1;
    }
    (s, n)
}

fn dns_object(bytes: usize) -> (String, u64) {
    let mut r = Rng::new(&[3]);
    let mut s = String::new();
    let mut n = 0;
    while s.len() < bytes {
        netlogs::dns_line(&mut r, "111122223333", "us-east-1", "vpc-1", T0, &mut s);
        n += 1;
    }
    (s, n)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(data, &mut out).expect("compress");
    out.truncate(n);
    out
}

fn readers(c: &mut Criterion) {
    let range = TimeRange::default();
    let mut g = c.benchmark_group("readers");
    g.sample_size(20);

    let (ct, ct_n) = cloudtrail_object(8 << 20);
    g.throughput(Throughput::Bytes(ct.len() as u64));
    g.bench_function("cloudtrail_parse_8MiB", |b| {
        b.iter(|| {
            let mut st = ObjectStats::default();
            read_cloudtrail(black_box(&ct), &range, &mut NullSink, &mut st);
            assert_eq!(st.parsed, ct_n);
        })
    });
    let gz = gzip(ct.as_bytes());
    let mut inf = Inflater::new();
    let mut buf = Vec::new();
    g.bench_function("gunzip_libdeflate_cloudtrail_8MiB", |b| {
        b.iter(|| {
            inf.gunzip(black_box(&gz), u64::MAX, &mut buf)
                .expect("gunzip");
            assert_eq!(buf.len(), ct.len());
        })
    });
    g.bench_function("gunzip_flate2_cloudtrail_8MiB", |b| {
        b.iter(|| {
            use std::io::Read;
            buf.clear();
            flate2::read::MultiGzDecoder::new(black_box(&gz[..]))
                .read_to_end(&mut buf)
                .expect("gunzip");
            assert_eq!(buf.len(), ct.len());
        })
    });
    g.bench_function("gunzip_and_parse_cloudtrail_8MiB", |b| {
        b.iter(|| {
            inf.gunzip(black_box(&gz), u64::MAX, &mut buf)
                .expect("gunzip");
            let text = std::str::from_utf8(&buf).expect("utf8");
            let mut st = ObjectStats::default();
            read_cloudtrail(text, &range, &mut NullSink, &mut st);
            assert_eq!(st.parsed, ct_n);
        })
    });

    for custom in [false, true] {
        let (flow, n) = flow_object(16 << 20, custom);
        g.throughput(Throughput::Bytes(flow.len() as u64));
        g.bench_function(
            if custom {
                "flow_custom_v5_parse_16MiB"
            } else {
                "flow_default_v2_parse_16MiB"
            },
            |b| {
                b.iter(|| {
                    let mut st = ObjectStats::default();
                    read_flow(black_box(flow.as_bytes()), &range, &mut NullSink, &mut st);
                    assert_eq!(st.read, n);
                })
            },
        );
    }

    let (dns, dns_n) = dns_object(8 << 20);
    g.throughput(Throughput::Bytes(dns.len() as u64));
    g.bench_function("dns_parse_8MiB", |b| {
        b.iter(|| {
            let mut st = ObjectStats::default();
            read_dns(black_box(&dns), &range, &mut NullSink, &mut st);
            assert_eq!(st.parsed, dns_n);
        })
    });
    g.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
