# Recipes mirror what CI runs (.ci/run); `just --list` shows them.

# Scan the bundled fixtures (the README's first command).
scan:
    cargo run --release -- scan fixtures/s3 fixtures/loose

# The whole test suite (the README's second command; what CI runs after fmt and clippy).
test:
    .ci/test

# Everything CI runs.
ci:
    .ci/run

fmt:
    cargo fmt --all

lint:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# criterion benchmarks (per reader).
bench:
    cargo bench -p trailhound-benches

# The corpus benchmark: trailhound vs the decompression floor on ~1 GiB CloudTrail and ~500 MiB flow.
bench-corpus *ARGS:
    benches/corpus.sh {{ARGS}}

# What writing findings costs (issue 5): every format on ~98,000 findings, as a share of the scan.
bench-output *ARGS:
    benches/output-cost.sh {{ARGS}}

# Scaling curves: threads, corpus size, object size (after bench-corpus has made the corpora).
bench-scaling *ARGS:
    benches/scaling.sh {{ARGS}}

# Rebuild the fixtures (needs pyarrow: python3 -m venv .venv && .venv/bin/pip install pyarrow).
fixtures:
    .venv/bin/python fixtures/make_fixtures.py

# A profiling build for perf (release with debug info).
profile *ARGS:
    cargo build --profile profiling -p trailhound-cli
    perf record -g target/profiling/trailhound {{ARGS}}
