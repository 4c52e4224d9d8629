//! Every output format on the fixture corpus (snapshots with the run time redacted), ASFF and
//! BatchImportFindings bodies of a scan of all of `../shared/data/public/` through
//! `../shared/tools/asff_check.py`, and both Parquet layouts read back by pyarrow and DuckDB with
//! the same rows as the JSON lines.
//!
//! The Python checks need an interpreter with botocore, pyarrow and duckdb: `.ci/test` creates
//! `.venv` with them; `TRAILHOUND_PYTHON` points elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailhound"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> [PathBuf; 2] {
    [repo().join("fixtures/s3"), repo().join("fixtures/loose")]
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRAILHOUND_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with botocore/pyarrow/duckdb: run .ci/test (it creates .venv) or set TRAILHOUND_PYTHON"
    );
    venv
}

fn scan(paths: &[PathBuf], extra: &[&str]) -> (i32, Vec<u8>) {
    let o = bin()
        .arg("scan")
        .arg("-q")
        .args(paths)
        .args(extra)
        .output()
        .unwrap();
    (o.status.code().unwrap(), o.stdout)
}

fn redact_asff(v: &mut serde_json::Value) {
    if let Some(a) = v.as_array_mut() {
        for f in a {
            f["CreatedAt"] = "[run time]".into();
            f["UpdatedAt"] = "[run time]".into();
        }
    }
}

#[test]
fn snapshots_of_every_text_format() {
    let (code, jsonl) = scan(&fixtures(), &["--format", "jsonl"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("fixtures.jsonl", String::from_utf8(jsonl).unwrap());
    let (_, asff) = scan(&fixtures(), &["--format", "asff"]);
    let mut v: serde_json::Value = serde_json::from_slice(&asff).unwrap();
    redact_asff(&mut v);
    insta::assert_snapshot!(
        "fixtures.asff.json",
        serde_json::to_string_pretty(&v).unwrap()
    );
    let (_, table) = scan(&fixtures(), &["--format", "table"]);
    let table = String::from_utf8(table).unwrap();
    assert!(
        !table.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    insta::assert_snapshot!("fixtures.table.txt", table);
}

fn asff_check(files: &[PathBuf]) {
    let o = Command::new(python())
        .arg(repo().join("../shared/tools/asff_check.py"))
        .args(files)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "asff_check failed:\n{out}");
    assert!(out.contains(", 0 problems"), "{out}");
}

#[test]
fn asff_of_the_fixtures_and_of_a_rule_without_description_passes_security_hub_checks() {
    // The fixtures hold a root call from an IPv6 address: ASFF's `RemoteIpDetails` take IPv4
    // only, so the address must go to `Network.SourceIpV6` instead.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixtures.asff.json");
    let (code, _) = scan(
        &fixtures(),
        &["--format", "asff", "-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let v6: Vec<&serde_json::Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["Network"]["SourceIpV6"] == "2001:db8::5")
        .collect();
    assert_eq!(v6.len(), 1, "one finding of the IPv6 caller");
    let call = &v6[0]["Action"]["AwsApiCallAction"];
    assert_eq!(call["CallerType"], "remoteip");
    assert!(call.get("RemoteIpDetails").is_none(), "{call}");
    asff_check(std::slice::from_ref(&out));

    // A rule with no description (Sigma's is optional; this one has none): Security Hub refuses a
    // blank `Description`, so the title stands in for it.
    let reads = repo().join("benches/output-rules/every-read.yml");
    let out = dir.path().join("reads.asff.json");
    scan(
        &fixtures(),
        &[
            "--no-default-rules",
            "--rules",
            reads.to_str().unwrap(),
            "--format",
            "asff",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let reads: Vec<&serde_json::Value> = v.as_array().unwrap().iter().collect();
    assert!(reads.len() > 1, "{} findings", reads.len());
    assert!(
        reads.iter().all(|f| f["Description"] == "Every read call"),
        "{:?}",
        reads[0]["Description"]
    );
    asff_check(std::slice::from_ref(&out));
}

#[test]
fn asff_of_all_public_data_passes_security_hub_checks() {
    let dir = tempfile::tempdir().unwrap();
    let public = repo().join("../shared/data/public");
    let one = dir.path().join("findings.asff.json");
    let (code, _) = scan(
        std::slice::from_ref(&public),
        &["--format", "asff", "-o", one.to_str().unwrap()],
    );
    assert_eq!(
        code, 2,
        "the public data holds one deliberately corrupt file"
    );
    let n = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&one).unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert!(n > 20, "{n} findings");
    asff_check(std::slice::from_ref(&one));

    let batches = dir.path().join("batches");
    scan(
        std::slice::from_ref(&public),
        &["--format", "asff-batches", "-o", batches.to_str().unwrap()],
    );
    let files: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&batches)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let mut total = 0;
    for f in &files {
        let body: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let k = body["Findings"].as_array().unwrap().len();
        assert!((1..=100).contains(&k));
        total += k;
        asff_check(std::slice::from_ref(f));
    }
    assert_eq!(total, n, "the batches hold every finding once");

    // Into a folder that holds an earlier run's bodies (here 24 of them: every read call its own
    // finding) and a file of the user's: the earlier bodies go, the user's file stays.
    let reads = repo().join("benches/output-rules/every-read.yml");
    let busy = dir.path().join("busy");
    let run = |extra: &[&str]| {
        let mut args = vec!["--format", "asff-batches", "-o", busy.to_str().unwrap()];
        args.extend_from_slice(extra);
        scan(std::slice::from_ref(&public), &args);
        let mut now: Vec<String> = std::fs::read_dir(&busy)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        now.sort();
        now
    };
    let earlier = run(&["--no-default-rules", "--rules", reads.to_str().unwrap()]);
    assert!(earlier.len() > files.len(), "{earlier:?}");
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    let now = run(&[]);
    let bodies: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(now, [bodies, vec!["notes.txt".into()]].concat());
    // The same findings as the first run's bodies (times of writing aside).
    let ids = |p: &Path| -> Vec<String> {
        let body: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        body["Findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    let same = ids(&busy.join("batch-0001.json")) == ids(&files[0]);
    assert!(same, "the folder's first body is this run's");
}

fn read_back(script: &str, file: &Path) -> String {
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn parquet_layouts_read_back_with_the_json_lines_rows() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let o = bin()
        .args([
            "corpus",
            "generate",
            "--size",
            "6MiB",
            "--seed",
            "3",
            "--attacks",
            "--object-size",
            "512KiB",
            "--out",
        ])
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(o.status.success());
    let paths = [corpus.clone()];
    let (_, jsonl) = scan(&paths, &[]);
    let rows: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() > 10);
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let counts: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();

    let pq = dir.path().join("findings.parquet");
    scan(&paths, &["--format", "parquet", "-o", pq.to_str().unwrap()]);
    let out = read_back(
        "import sys, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         print(t.num_rows)\n\
         print(','.join(t.column('id').to_pylist()))\n\
         print(sum(t.column('count').to_pylist()))\n\
         print(t.schema.field('first_seen').type)\n\
         print(t.schema.field('type').type)\n\
         print(pq.ParquetFile(sys.argv[1]).metadata.row_group(0).column(0).compression)",
        &pq,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], rows.len().to_string());
    assert_eq!(lines[1], ids.join(","));
    assert_eq!(lines[2], counts.to_string());
    assert_eq!(lines[3], "timestamp[ms, tz=UTC]");
    assert_eq!(
        lines[4],
        "dictionary<values=string, indices=int32, ordered=0>"
    );
    assert_eq!(lines[5], "ZSTD");
    let out = read_back(
        "import sys, duckdb\n\
         print(duckdb.execute(f\"select count(*), sum(count), count(distinct resource.id) from '{sys.argv[1]}'\").fetchone())",
        &pq,
    );
    let resources: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        out.trim(),
        format!("({}, {counts}, {})", rows.len(), resources.len())
    );

    let ocsf = dir.path().join("findings.ocsf.parquet");
    scan(
        &paths,
        &["--format", "ocsf-parquet", "-o", ocsf.to_str().unwrap()],
    );
    let out = read_back(
        "import sys, duckdb\n\
         print(duckdb.execute(f\"select count(*), min(class_uid), max(class_uid), min(type_uid), sum(count), count(distinct finding_info.uid) from '{sys.argv[1]}'\").fetchone())",
        &ocsf,
    );
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "({}, 2004, 2004, 200401, {counts}, {})",
            rows.len(),
            rows.len()
        )
    );
    let o = Command::new(python())
        .arg("-c")
        .arg("import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nprint(t.num_rows, t.column('finding_info').to_pylist()[0]['uid'])")
        .arg(&ocsf)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("{} {}", rows.len(), ids[0])
    );
}

#[test]
fn parquet_needs_an_output_file() {
    let o = bin()
        .args(["scan", "-q", "--format", "parquet"])
        .args(fixtures())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("need -o FILE"));
}
