//! The Sigma `condition` language: `and`, `or`, `not`, parentheses, `1 of x*`, `all of them`.
//!
//! Precedence, loosest first: `or`, `and`, `not`. `1 of`/`all of` take a selection name with
//! optional `*` wildcards, or `them` (every selection whose name does not start with `_`).

use crate::diag::{Code, Problem};

/// A parsed condition over selection indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// A selection.
    Sel(usize),
    /// All must hold.
    And(Vec<Cond>),
    /// One must hold.
    Or(Vec<Cond>),
    /// Negation.
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !cur.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut cur)));
                }
                if c == '(' {
                    out.push(Tok::Open);
                } else if c == ')' {
                    out.push(Tok::Close);
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(Tok::Word(cur));
    }
    out
}

fn glob_match(pat: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pat.as_bytes(), name.as_bytes())
}

struct P<'a> {
    toks: Vec<Tok>,
    i: usize,
    names: &'a [String],
    line: usize,
}

impl P<'_> {
    fn err(&self, msg: impl Into<String>) -> Problem {
        Problem::new(self.line, Code::BadCondition, msg)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.i) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Cond, Problem> {
        let mut parts = vec![self.and()?];
        while self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case("or"))
        {
            self.i += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, Problem> {
        let mut parts = vec![self.not()?];
        while self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case("and"))
        {
            self.i += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, Problem> {
        if self
            .peek_word()
            .is_some_and(|w| w.eq_ignore_ascii_case("not"))
        {
            self.i += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, Problem> {
        match self.toks.get(self.i).cloned() {
            Some(Tok::Open) => {
                self.i += 1;
                let c = self.or()?;
                if self.toks.get(self.i) != Some(&Tok::Close) {
                    return Err(self.err("missing `)`"));
                }
                self.i += 1;
                Ok(c)
            }
            Some(Tok::Close) => Err(self.err("unexpected `)`")),
            None => Err(self.err("condition ends early")),
            Some(Tok::Word(w)) => {
                self.i += 1;
                let quant = if w == "1" || w.eq_ignore_ascii_case("any") {
                    Some(false)
                } else if w.eq_ignore_ascii_case("all") {
                    Some(true)
                } else {
                    None
                };
                if let Some(all) = quant {
                    if !self
                        .peek_word()
                        .is_some_and(|x| x.eq_ignore_ascii_case("of"))
                    {
                        return Err(self.err(format!("expected `of` after `{w}`")));
                    }
                    self.i += 1;
                    let Some(target) = self.peek_word().map(str::to_owned) else {
                        return Err(self.err("expected a selection pattern or `them` after `of`"));
                    };
                    self.i += 1;
                    let idx: Vec<usize> = if target.eq_ignore_ascii_case("them") {
                        (0..self.names.len())
                            .filter(|&i| !self.names[i].starts_with('_'))
                            .collect()
                    } else {
                        (0..self.names.len())
                            .filter(|&i| glob_match(&target, &self.names[i]))
                            .collect()
                    };
                    if idx.is_empty() {
                        return Err(self.err(format!("`{target}` matches no selection")));
                    }
                    let parts: Vec<Cond> = idx.into_iter().map(Cond::Sel).collect();
                    return Ok(if parts.len() == 1 {
                        parts.into_iter().next().unwrap_or(Cond::Or(Vec::new()))
                    } else if all {
                        Cond::And(parts)
                    } else {
                        Cond::Or(parts)
                    });
                }
                if ["and", "or", "not", "of"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(self.err(format!("unexpected `{w}`")));
                }
                if w.contains('*') {
                    return Err(self.err(format!("a wildcard name `{w}` needs `1 of` or `all of`")));
                }
                match self.names.iter().position(|n| *n == w) {
                    Some(i) => Ok(Cond::Sel(i)),
                    None => Err(self.err(format!("unknown selection `{w}`"))),
                }
            }
        }
    }
}

/// Parses a condition over the named selections.
///
/// ```
/// use trailhound_rules::condition::{parse, Cond};
/// let names = ["selection".to_string(), "filter_a".to_string(), "filter_b".to_string()];
/// let c = parse("selection and not 1 of filter_*", &names, 1).unwrap();
/// assert_eq!(c, Cond::And(vec![Cond::Sel(0), Cond::Not(Box::new(Cond::Or(vec![Cond::Sel(1), Cond::Sel(2)])))]));
/// assert!(parse("selection and", &names, 1).is_err());
/// ```
pub fn parse(s: &str, names: &[String], line: usize) -> Result<Cond, Problem> {
    let mut p = P {
        toks: lex(s),
        i: 0,
        names,
        line,
    };
    let c = p.or()?;
    if p.i != p.toks.len() {
        return Err(p.err(format!(
            "unexpected text after the condition: {:?}",
            p.toks[p.i..]
                .iter()
                .map(|t| match t {
                    Tok::Word(w) => w.clone(),
                    Tok::Open => "(".into(),
                    Tok::Close => ")".into(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_quantifiers() {
        let names: Vec<String> = ["a", "b", "c", "_hidden"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            parse("a or b and c", &names, 1).unwrap(),
            Cond::Or(vec![
                Cond::Sel(0),
                Cond::And(vec![Cond::Sel(1), Cond::Sel(2)])
            ])
        );
        assert_eq!(
            parse("(a or b) and not c", &names, 1).unwrap(),
            Cond::And(vec![
                Cond::Or(vec![Cond::Sel(0), Cond::Sel(1)]),
                Cond::Not(Box::new(Cond::Sel(2)))
            ])
        );
        assert_eq!(
            parse("all of them", &names, 1).unwrap(),
            Cond::And(vec![Cond::Sel(0), Cond::Sel(1), Cond::Sel(2)])
        );
        assert_eq!(parse("1 of _h*", &names, 1).unwrap(), Cond::Sel(3));
        for bad in ["a and", "(a", "a)", "zzz", "1 of q*", "a b", "x*", "1 a"] {
            assert!(parse(bad, &names, 7).is_err(), "{bad}");
        }
        assert_eq!(parse("zzz", &names, 7).unwrap_err().line, 7);
    }
}
