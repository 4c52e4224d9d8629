//! Embeds the bundled rule pack (`rules/` at the workspace root) into the crate, so that
//! `trailhound scan DIR` works with no flags and no files next to the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut rules = String::from(
        "/// Bundled rule files: (path under rules/, text).\npub static BUNDLED_RULES: &[(&str, &str)] = &[\n",
    );
    let mut lists = String::from(
        "/// Bundled lists: (name, text).\npub static BUNDLED_LISTS: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if (ext == "yml" || ext == "yaml") && !rel.starts_with("lists/") {
            let _ = writeln!(
                rules,
                "    ({rel:?}, include_str!({:?})),",
                abs.display().to_string()
            );
        } else if ext == "txt" && rel.starts_with("lists/") {
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                lists,
                "    ({name:?}, include_str!({:?})),",
                abs.display().to_string()
            );
        }
    }
    rules.push_str("];\n");
    lists.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("bundled.rs");
    if let Err(e) = std::fs::write(&out, rules + &lists) {
        panic!("cannot write {}: {e}", out.display());
    }
}
