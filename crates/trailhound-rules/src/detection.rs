//! Sigma `detection` sections: selections of `field|modifiers: values` items and the condition
//! over them, compiled into [`Test`]s.

use std::collections::HashMap;

use base64::Engine as _;
use regex::Regex;

use crate::condition::{self, Cond};
use crate::diag::{Code, Problem};
use crate::lists::Lists;
use crate::matcher::{Cmp, DomainSet, Net, NetSet, StrPat, StrSet, Test};
use crate::yaml::{Doc, MarkedMappingNode, MarkedScalarNode, Node, is_null};

/// One `field|modifiers: values` item (`field` is `None` for keyword searches).
#[derive(Debug, Clone)]
pub struct Item {
    /// The field name in the log's own naming (dotted JSON path, or flow header name).
    pub field: Option<String>,
    /// What the values must satisfy.
    pub test: Test,
}

/// A selection: OR of AND-groups of items (a map is one group; a list of maps is several).
#[derive(Debug, Clone)]
pub struct Selection {
    /// The selection's name.
    pub name: String,
    /// OR of AND-groups.
    pub groups: Vec<Vec<Item>>,
}

/// A compiled detection section.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Selections in file order.
    pub selections: Vec<Selection>,
    /// The condition over them.
    pub condition: Cond,
}

const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "exists",
    "fieldref",
    "gt",
    "gte",
    "lt",
    "lte",
    "base64",
    "base64offset",
    "cased",
    "expand",
    "domain",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(char),
    Star,
    One,
}

/// Sigma wildcard parsing: `*`, `?`, and `\` escapes (`\*`, `\?`, `\\`).
fn pieces(v: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut it = v.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.peek() {
                Some('*' | '?' | '\\') => out.push(Piece::Lit(it.next().unwrap_or('\\'))),
                _ => out.push(Piece::Lit('\\')),
            },
            '*' => out.push(Piece::Star),
            '?' => out.push(Piece::One),
            c => out.push(Piece::Lit(c)),
        }
    }
    out
}

fn to_pat(ps: &[Piece], cased: bool) -> Result<StrPat, String> {
    let lit = |ps: &[Piece]| -> Option<String> {
        ps.iter()
            .map(|p| {
                if let Piece::Lit(c) = p {
                    Some(*c)
                } else {
                    None
                }
            })
            .collect()
    };
    let fold = |s: String| if cased { s } else { s.to_lowercase() };
    let n = ps.len();
    if let Some(s) = lit(ps) {
        return Ok(StrPat::Eq(fold(s)));
    }
    if n >= 2
        && ps[0] == Piece::Star
        && ps[n - 1] == Piece::Star
        && let Some(s) = lit(&ps[1..n - 1])
    {
        return Ok(StrPat::Contains(fold(s)));
    }
    if n >= 1
        && ps[n - 1] == Piece::Star
        && let Some(s) = lit(&ps[..n - 1])
    {
        return Ok(StrPat::Prefix(fold(s)));
    }
    if n >= 1
        && ps[0] == Piece::Star
        && let Some(s) = lit(&ps[1..])
    {
        return Ok(StrPat::Suffix(fold(s)));
    }
    let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
    for p in ps {
        match p {
            Piece::Lit(c) => re.push_str(&regex::escape(&c.to_string())),
            Piece::Star => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    re.push('$');
    Regex::new(&re)
        .map(StrPat::Regex)
        .map_err(|e| e.to_string())
}

fn base64_offsets(v: &[u8]) -> Vec<String> {
    let e = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for i in 0..3usize {
        let mut buf = vec![b' '; i];
        buf.extend_from_slice(v);
        let enc = e.encode(&buf);
        let start = [0, 2, 3][i];
        let end_cut = [0, 3, 2][(v.len() + i) % 3];
        if enc.len() >= start + end_cut {
            out.push(enc[start..enc.len() - end_cut].to_owned());
        }
    }
    out
}

/// Values of an item as written: scalars (with whether they are plain `null`).
fn scalars<'n>(doc: &Doc, v: &'n Node) -> Result<Vec<&'n MarkedScalarNode>, Problem> {
    match v {
        Node::Scalar(s) => Ok(vec![s]),
        Node::Sequence(q) => q
            .iter()
            .map(|n| match n {
                Node::Scalar(s) => Ok(s),
                other => Err(Problem::new(
                    doc.line(other),
                    Code::BadDetection,
                    "a value list may only hold scalars",
                )),
            })
            .collect(),
        Node::Mapping(m) => Err(Problem::new(
            doc.line(v),
            Code::BadDetection,
            format!(
                "a field's value cannot be a mapping (keys: {})",
                m.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

fn expand(values: Vec<String>, lists: &Lists, line: usize) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for v in values {
        let Some(start) = v.find('%') else {
            out.push(v);
            continue;
        };
        let Some(len) = v[start + 1..].find('%') else {
            out.push(v);
            continue;
        };
        let name = &v[start + 1..start + 1 + len];
        let entries = lists.get(name).ok_or_else(|| {
            Problem::new(
                line,
                Code::UnknownList,
                format!("no list named `{name}` for placeholder %{name}%"),
            )
        })?;
        let (before, after) = (&v[..start], &v[start + 2 + len..]);
        if before.is_empty() && after.is_empty() {
            // The whole value is the placeholder (as it nearly always is): the entries as they
            // are, without formatting each (threat lists hold tens of thousands).
            out.extend(entries.iter().cloned());
        } else {
            for e in entries {
                out.push(format!("{before}{e}{after}"));
            }
        }
    }
    Ok(out)
}

/// Drops a leading and a trailing unescaped `.*` from a pattern used for an unanchored match:
/// they cannot change whether it matches, and without them the regex engine can search for the
/// pattern's literals first.
fn trim_dot_star(v: &str) -> String {
    let mut s = v;
    if let Some(rest) = s.strip_prefix(".*") {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(".*") {
        let escaped = rest.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1;
        if !escaped {
            s = rest;
        }
    }
    s.to_owned()
}

/// Compiles one item.
pub fn compile_item(
    doc: &Doc,
    key: &MarkedScalarNode,
    value: &Node,
    lists: &Lists,
) -> Result<Item, Problem> {
    let line = doc.sline(key);
    let mut parts = key.as_str().split('|');
    let field = parts.next().unwrap_or("").trim();
    let field = if field.is_empty() {
        None
    } else {
        Some(field.to_owned())
    };
    let mods: Vec<String> = parts.map(|m| m.trim().to_ascii_lowercase()).collect();
    for m in &mods {
        if !MODIFIERS.contains(&m.as_str()) {
            return Err(Problem::new(
                line,
                Code::UnknownModifier,
                format!("unknown modifier `{m}`"),
            ));
        }
    }
    let has = |m: &str| mods.iter().any(|x| x == m);
    let raw = scalars(doc, value)?;
    let null_count = raw.iter().filter(|s| is_null(s)).count();
    let mut values: Vec<String> = raw
        .iter()
        .filter(|s| !is_null(s))
        .map(|s| s.as_str().to_owned())
        .collect();
    if has("expand") {
        values = expand(values, lists, line)?;
    }
    let num = |s: &str| -> Result<f64, Problem> {
        s.trim()
            .parse::<f64>()
            .map_err(|_| Problem::new(line, Code::BadNumber, format!("`{s}` is not a number")))
    };
    let test = if has("exists") {
        let b = match values.first().map(|s| s.to_ascii_lowercase()) {
            Some(s) if s == "true" || s == "yes" => true,
            Some(s) if s == "false" || s == "no" => false,
            _ => {
                return Err(Problem::new(
                    line,
                    Code::BadDetection,
                    "`exists` takes true or false",
                ));
            }
        };
        Test::Exists(b)
    } else if has("fieldref") {
        Test::FieldRef(values)
    } else if let Some(c) = [
        ("gt", Cmp::Gt),
        ("gte", Cmp::Gte),
        ("lt", Cmp::Lt),
        ("lte", Cmp::Lte),
    ]
    .iter()
    .find(|(m, _)| has(m))
    {
        Test::Num(
            values
                .iter()
                .map(|v| num(v).map(|n| (c.1, n)))
                .collect::<Result<_, _>>()?,
        )
    } else if has("cidr") {
        let mut nets = Vec::new();
        for v in &values {
            match Net::parse(v) {
                Some(n) => nets.push(n),
                // A list may mix addresses and domains: only the addresses apply here.
                None if has("expand") => {}
                None => {
                    return Err(Problem::new(
                        line,
                        Code::BadCidr,
                        format!("`{v}` is not a CIDR or address"),
                    ));
                }
            }
        }
        Test::Cidr(NetSet::new(&nets))
    } else if has("domain") {
        // A list may mix addresses and domains: only the names apply here.
        Test::Domain(DomainSet::new(
            values
                .iter()
                .map(String::as_str)
                .filter(|v| Net::parse(v).is_none()),
        ))
    } else if has("re") {
        let mut flags = String::new();
        for (m, f) in [("i", 'i'), ("m", 'm'), ("s", 's')] {
            if has(m) {
                flags.push(f);
            }
        }
        let mut pats = Vec::new();
        for v in &values {
            let v = &trim_dot_star(v);
            let src = if flags.is_empty() {
                v.clone()
            } else {
                format!("(?{flags}){v}")
            };
            pats.push(StrPat::Regex(Regex::new(&src).map_err(|e| {
                Problem::new(line, Code::BadRegex, format!("regex `{v}`: {e}"))
            })?));
        }
        Test::Str(
            StrSet::build(pats, true, has("all"), null_count > 0)
                .map_err(|e| Problem::new(line, Code::BadRegex, e))?,
        )
    } else if values.is_empty() && null_count > 0 {
        Test::Null
    } else {
        let cased = has("cased");
        let mut expanded: Vec<String> = Vec::new();
        for v in values {
            if has("base64offset") {
                expanded.extend(base64_offsets(v.as_bytes()));
            } else if has("base64") {
                expanded.push(base64::engine::general_purpose::STANDARD.encode(v.as_bytes()));
            } else {
                expanded.push(v);
            }
        }
        let mut pats = Vec::new();
        for v in expanded {
            let mut ps = pieces(&v);
            if has("contains") {
                if ps.first() != Some(&Piece::Star) {
                    ps.insert(0, Piece::Star);
                }
                if ps.last() != Some(&Piece::Star) {
                    ps.push(Piece::Star);
                }
            } else if has("startswith") {
                if ps.last() != Some(&Piece::Star) {
                    ps.push(Piece::Star);
                }
            } else if has("endswith") && ps.first() != Some(&Piece::Star) {
                ps.insert(0, Piece::Star);
            }
            pats.push(to_pat(&ps, cased).map_err(|e| Problem::new(line, Code::BadRegex, e))?);
        }
        Test::Str(
            StrSet::build(pats, cased, has("all"), null_count > 0)
                .map_err(|e| Problem::new(line, Code::BadRegex, e))?,
        )
    };
    Ok(Item { field, test })
}

fn compile_map(doc: &Doc, m: &MarkedMappingNode, lists: &Lists) -> Result<Vec<Item>, Problem> {
    m.iter()
        .map(|(k, v)| compile_item(doc, k, v, lists))
        .collect()
}

/// Compiles a `detection:` mapping.
pub fn compile(
    doc: &Doc,
    det: &MarkedMappingNode,
    lists: &Lists,
) -> Result<Detection, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut selections = Vec::new();
    let mut cond_nodes = Vec::new();
    for (k, v) in det.iter() {
        let name = k.as_str();
        if name == "condition" {
            cond_nodes.push(v);
            continue;
        }
        if name == "timeframe" {
            continue; // deprecated Sigma 1 aggregation window; correlations replace it
        }
        let groups = match v {
            Node::Mapping(m) => compile_map(doc, m, lists).map(|g| vec![g]),
            Node::Sequence(q) if q.iter().all(|n| matches!(n, Node::Mapping(_))) => q
                .iter()
                .filter_map(|n| n.as_mapping())
                .map(|m| compile_map(doc, m, lists))
                .collect(),
            Node::Sequence(_) | Node::Scalar(_) => {
                // Keywords: a list of strings matched anywhere in the record.
                let key = MarkedScalarNode::new(*k.span(), "");
                compile_item(doc, &key, v, lists).map(|i| vec![vec![i]])
            }
        };
        match groups {
            Ok(groups) => selections.push(Selection {
                name: name.to_owned(),
                groups,
            }),
            Err(p) => {
                problems.push(p);
                // Keep the name so the condition is still checked without a second, misleading
                // "unknown selection" error.
                selections.push(Selection {
                    name: name.to_owned(),
                    groups: Vec::new(),
                });
            }
        }
    }
    let names: Vec<String> = selections.iter().map(|s| s.name.clone()).collect();
    let condition = match cond_nodes.first() {
        None => {
            problems.push(Problem::new(
                doc.sline_map(det),
                Code::MissingField,
                "`detection` has no `condition`",
            ));
            None
        }
        Some(Node::Scalar(s)) => condition::parse(s.as_str(), &names, doc.sline(s))
            .map_err(|p| problems.push(p))
            .ok(),
        Some(Node::Sequence(q)) => {
            let mut parts = Vec::new();
            for n in q.iter() {
                match n {
                    Node::Scalar(s) => match condition::parse(s.as_str(), &names, doc.sline(s)) {
                        Ok(c) => parts.push(c),
                        Err(p) => problems.push(p),
                    },
                    other => problems.push(Problem::new(
                        doc.line(other),
                        Code::BadCondition,
                        "a condition list holds strings",
                    )),
                }
            }
            Some(Cond::Or(parts))
        }
        Some(other) => {
            problems.push(Problem::new(
                doc.line(other),
                Code::BadCondition,
                "`condition` must be a string",
            ));
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    match condition {
        Some(condition) => Ok(Detection {
            selections,
            condition,
        }),
        None => Err(vec![Problem::new(
            doc.sline_map(det),
            Code::BadCondition,
            "no usable condition",
        )]),
    }
}

/// The `eventName` values a CloudTrail record must have for the condition to possibly hold, if
/// the condition pins them down (used to index rules by API name).
pub fn required_values(det: &Detection, field: &str) -> Option<Vec<String>> {
    fn sel(det: &Detection, i: usize, field: &str) -> Option<Vec<String>> {
        let s = &det.selections[i];
        let mut all = Vec::new();
        for g in &s.groups {
            let item = g.iter().find(|it| it.field.as_deref() == Some(field))?;
            match &item.test {
                Test::Str(set)
                    if !set.all
                        && !set.null_ok
                        && set.others.is_empty()
                        && set.contains.is_none()
                        && set.regex_set.is_none()
                        && !set.eq.is_empty()
                        && !set.cased =>
                {
                    all.extend(set.eq.iter().cloned());
                }
                _ => return None,
            }
        }
        Some(all)
    }
    fn walk(det: &Detection, c: &Cond, field: &str) -> Option<Vec<String>> {
        match c {
            Cond::Sel(i) => sel(det, *i, field),
            Cond::Not(_) => None,
            Cond::And(parts) => {
                let mut best: Option<Vec<String>> = None;
                for p in parts {
                    if let Some(v) = walk(det, p, field) {
                        best = Some(match best {
                            None => v,
                            Some(b) => b.into_iter().filter(|x| v.contains(x)).collect(),
                        });
                    }
                }
                best
            }
            Cond::Or(parts) => {
                let mut all = Vec::new();
                for p in parts {
                    all.extend(walk(det, p, field)?);
                }
                Some(all)
            }
        }
    }
    let mut v = walk(det, &det.condition, field)?;
    v.sort();
    v.dedup();
    Some(v)
}

/// Every field a detection reads (for `rules explain` and validation).
pub fn fields(det: &Detection) -> Vec<String> {
    let mut m: HashMap<String, ()> = HashMap::new();
    for s in &det.selections {
        for g in &s.groups {
            for i in g {
                if let Some(f) = &i.field {
                    m.insert(f.clone(), ());
                }
            }
        }
    }
    let mut v: Vec<String> = m.into_keys().collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Val;
    use std::borrow::Cow;

    fn item(yaml: &str) -> Item {
        let docs = crate::yaml::load_docs(yaml).unwrap();
        let (k, v) = docs[0].root.iter().next().unwrap();
        compile_item(&docs[0], k, v, &Lists::default()).unwrap()
    }

    fn hit(i: &Item, v: &str) -> bool {
        i.test
            .eval(&[Val::Str(Cow::Borrowed(v))], &mut |_| Vec::new())
    }

    #[test]
    fn wildcards_and_modifiers() {
        assert!(hit(&item("f: 'Stop*ing'"), "stoplogging"));
        assert!(hit(&item("f: 'a?c'"), "ABC"));
        assert!(!hit(&item("f: 'a\\?c'"), "abc"));
        assert!(hit(&item("f: 'a\\?c'"), "a?c"));
        assert!(hit(&item("f|contains: 'KALI'"), "linux-kali7"));
        assert!(!hit(&item("f|contains|cased: 'KALI'"), "linux-kali7"));
        assert!(hit(
            &item("f|endswith: '.amazonaws.com'"),
            "S3.AMAZONAWS.COM"
        ));
        assert!(hit(&item("f|re: '^a.+z$'"), "abcz"));
        assert!(!hit(&item("f|re: '^A'"), "abc"));
        assert!(hit(&item("f|re|i: '^A'"), "abc"));
        assert!(hit(
            &item("f|re: '.*:assumed-role/.*'"),
            "arn:aws:sts::1:assumed-role/x"
        ));
        assert!(!hit(
            &item("f|re: '.*:assumed-role/.*'"),
            "arn:aws:iam::1:role/x"
        ));
        assert_eq!(trim_dot_star(".*a\\.*"), "a\\.*");
        assert_eq!(trim_dot_star(".*ab.*"), "ab");
        assert!(hit(&item("f|contains|all: [a, b]"), "xbxa"));
        assert!(!hit(&item("f|contains|all: [a, b]"), "xxa"));
        assert!(hit(&item("f|cidr: 10.0.0.0/8"), "10.2.3.4"));
        assert!(hit(&item("f|gt: 5"), "6"));
        assert!(!hit(&item("f|gt: 5"), "5"));
        assert!(hit(
            &item("f|base64offset|contains: /bin/bash"),
            "ZWNobyAvYmluL2Jhc2g="
        ));
        assert!(hit(&item("f|domain: example.com"), "a.example.com."));
        let n = item("f: null");
        assert!(n.test.eval(&[], &mut |_| Vec::new()));
        assert!(n.test.eval(&[Val::Null], &mut |_| Vec::new()));
        assert!(!hit(&n, "x"));
        assert!(
            item("f|exists: true")
                .test
                .eval(&[Val::Str("x".into())], &mut |_| Vec::new())
        );
        assert!(item("f|exists: false").test.eval(&[], &mut |_| Vec::new()));
    }

    #[test]
    fn bad_items_are_diagnosed() {
        let docs = crate::yaml::load_docs("a|nonsense: x\nb|re: '('\nc|cidr: 300.1.1.1/8\nd|gt: many\ne: '%nolist%'\nf|expand: '%nolist%'\n").unwrap();
        let codes: Vec<Code> = docs[0]
            .root
            .iter()
            .filter_map(|(k, v)| {
                compile_item(&docs[0], k, v, &Lists::default())
                    .err()
                    .map(|p| p.code)
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                Code::UnknownModifier,
                Code::BadRegex,
                Code::BadCidr,
                Code::BadNumber,
                Code::UnknownList
            ]
        );
    }
}
