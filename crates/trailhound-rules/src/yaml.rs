//! YAML with line numbers, multi-document aware.
//!
//! Rule diagnostics must point at a line, so rule files are read with `marked-yaml` (built on the
//! maintained `yaml-rust2`), which keeps a span on every node. Sigma correlation files hold several
//! documents separated by `---`; each document is parsed on its own and its line numbers shifted
//! back to the file's.

pub use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode, Node};

use crate::diag::{Code, Problem};

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The document's top-level mapping.
    pub root: MarkedMappingNode,
    /// Lines before the document in the file.
    pub line_offset: usize,
}

impl Doc {
    /// The file line of a node.
    pub fn line(&self, n: &Node) -> usize {
        n.span().start().map_or(0, |m| m.line()) + self.line_offset
    }

    /// The file line of a mapping.
    pub fn sline_map(&self, n: &MarkedMappingNode) -> usize {
        n.span().start().map_or(0, |m| m.line()) + self.line_offset
    }

    /// The file line of a scalar.
    pub fn sline(&self, n: &MarkedScalarNode) -> usize {
        n.span().start().map_or(0, |m| m.line()) + self.line_offset
    }
}

/// Splits a file into YAML documents and parses each.
pub fn load_docs(text: &str) -> Result<Vec<Doc>, Problem> {
    let mut docs = Vec::new();
    let mut start_line = 0usize;
    let mut current = String::new();
    let flush = |buf: &mut String, first_line: usize, docs: &mut Vec<Doc>| -> Result<(), Problem> {
        if buf
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            buf.clear();
            return Ok(());
        }
        let opts = marked_yaml::LoaderOptions::default().prevent_coercion(true);
        match marked_yaml::parse_yaml_with_options(0, buf.as_str(), opts) {
            Ok(Node::Mapping(m)) => docs.push(Doc {
                root: m,
                line_offset: first_line,
            }),
            Ok(_) => {
                return Err(Problem::new(
                    first_line + 1,
                    Code::YamlSyntax,
                    "a rule document must be a mapping",
                ));
            }
            Err(e) => {
                let line = error_line(&e).map_or(first_line + 1, |l| l + first_line);
                return Err(Problem::new(line, Code::YamlSyntax, format!("YAML: {e}")));
            }
        }
        buf.clear();
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            flush(&mut current, start_line, &mut docs)?;
            start_line = i + 1;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    flush(&mut current, start_line, &mut docs)?;
    Ok(docs)
}

fn error_line(e: &marked_yaml::LoadError) -> Option<usize> {
    use marked_yaml::LoadError as E;
    let m = match e {
        E::TopLevelMustBeMapping(m)
        | E::TopLevelMustBeSequence(m)
        | E::UnexpectedAnchor(m)
        | E::MappingKeyMustBeScalar(m)
        | E::UnexpectedTag(m)
        | E::ScanError(m, _) => m,
        E::DuplicateKey(d) => d.key.span().start()?,
    };
    Some(m.line())
}

/// True for a plain (unquoted) YAML null: `null`, `~`, `Null`, `NULL` or an empty value.
pub fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

/// A node as JSON (for inline test events): plain scalars are typed the YAML way.
pub fn to_json(n: &Node) -> serde_json::Value {
    match n {
        Node::Scalar(s) => {
            if is_null(s) {
                return serde_json::Value::Null;
            }
            if s.may_coerce() {
                if let Some(b) = s.as_bool() {
                    return serde_json::Value::Bool(b);
                }
                if let Ok(i) = s.as_str().parse::<i64>() {
                    return serde_json::Value::from(i);
                }
                if let Ok(f) = s.as_str().parse::<f64>()
                    && s.as_str().contains('.')
                {
                    return serde_json::Value::from(f);
                }
            }
            serde_json::Value::String(s.as_str().to_owned())
        }
        Node::Sequence(q) => serde_json::Value::Array(q.iter().map(to_json).collect()),
        Node::Mapping(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().to_owned(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_lines() {
        let docs = load_docs("title: a\n---\ntitle: b\nlevel: high\n").unwrap();
        assert_eq!(docs.len(), 2);
        let lvl = docs[1].root.get_node("level").unwrap();
        assert_eq!(docs[1].line(lvl), 4);
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = load_docs("title: a\ndetection:\n  sel: [unclosed\n").unwrap_err();
        assert_eq!(e.code, Code::YamlSyntax);
        assert!(e.line >= 3, "{e:?}");
    }

    #[test]
    fn json_of_plain_and_quoted() {
        let docs = load_docs("a: 1\nb: '1'\nc: true\nd: null\ne: ~\nf: 'null'\n").unwrap();
        let j = to_json(&Node::Mapping(docs[0].root.clone()));
        assert_eq!(
            j,
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": null, "f": "null"})
        );
    }
}
