//! Equality items on a resolver record's `answers.Rdata`, ruled out from the answers' JSON text.
//!
//! A bundled rule (metadata DNS rebinding, `answers.Rdata: 169.254.169.254`) asks every resolver
//! record whether one of its answers is a given address. Reading the answers array for that
//! ([`crate::fields`]' typed pass over it) was about 8 % of a resolver scan, and almost every
//! record holds no such answer. The parse keeps the array as its JSON text, and every value read
//! from a JSON text without backslash escapes is a substring of that text: a string unescaped is
//! its own bytes, and numbers, booleans, objects and arrays are kept as written. So when the text
//! holds no backslash and none of the item's values, no answer can equal one of them, and the
//! item is false without the array being read. Anything else is left to the general path.
//!
//! Only values made of ASCII characters other than letters are taken: equality folds case
//! (Unicode lower case) unless the item is `|cased`, and no character folds to an ASCII digit,
//! dot, colon or other non-letter but that character itself, so such a value is equal only to
//! its own bytes. Values with letters (a name, an IPv6 address with hex digits) keep the general
//! path, as do `|all`, `null` and every modifier but plain equality.

use trailhound_rules::matcher::Test;

use crate::fields::FieldRef;

/// The values of an equality item on `answers.Rdata` (see the module documentation).
#[derive(Debug, Clone)]
pub struct AnswersEq {
    values: Box<[String]>,
}

impl AnswersEq {
    /// The item's form, when `fr` is `answers.Rdata` and `test` a plain equality with values this
    /// module can rule out from the text.
    pub fn compile(fr: &FieldRef, test: &Test) -> Option<Self> {
        let FieldRef::Path(p) = fr else { return None };
        if p.len() != 2 || p[0] != "answers" || p[1] != "Rdata" {
            return None;
        }
        let Test::Str(s) = test else { return None };
        let no_letters = |v: &String| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii() && !b.is_ascii_alphabetic() && b != b'\\')
        };
        if !s.is_plain_eq() || !s.eq.iter().all(no_letters) {
            return None;
        }
        let mut values: Vec<String> = s.eq.iter().cloned().collect();
        values.sort();
        Some(AnswersEq {
            values: values.into(),
        })
    }

    /// Whether an answer could equal one of the values, given the answers' JSON text (`None`:
    /// the record has no answers). `false` means the item is false; `true` that the answers must
    /// be read to know.
    #[inline]
    pub fn may_hold(&self, answers: Option<&str>) -> bool {
        let Some(text) = answers else { return false };
        text.as_bytes().contains(&b'\\') || self.values.iter().any(|v| text.contains(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{DnsDerived, DnsLazy, Event, Vals};
    use trailhound_model::{DnsRecord, LogKind};
    use trailhound_rules::matcher::{StrPat, StrSet};

    fn eq(vals: &[&str]) -> Test {
        let pats = vals.iter().map(|v| StrPat::Eq((*v).to_owned())).collect();
        Test::Str(StrSet::build(pats, false, false, false).unwrap())
    }

    fn on(field: &str, test: &Test) -> Option<AnswersEq> {
        AnswersEq::compile(&FieldRef::resolve(LogKind::Dns, Some(field)), test)
    }

    #[test]
    fn only_plain_equalities_without_letters_on_answers_rdata_are_taken() {
        assert!(on("answers.Rdata", &eq(&["169.254.169.254"])).is_some());
        assert!(on("answers.Rdata", &eq(&["10.0.0.1", "127.0.0.1"])).is_some());
        let set = |pats: Vec<StrPat>, all: bool, null_ok: bool| {
            Test::Str(StrSet::build(pats, false, all, null_ok).unwrap())
        };
        let refused = [
            ("answers.Rdata", eq(&["example.com."])),
            ("answers.Rdata", eq(&["fd00:ec2::254"])),
            ("answers.Rdata", eq(&["169.254.169.254", "a"])),
            (
                "answers.Rdata",
                set(vec![StrPat::Contains("169.254".into())], false, false),
            ),
            (
                "answers.Rdata",
                set(vec![StrPat::Eq("169.254.169.254".into())], false, true),
            ),
            (
                "answers.Rdata",
                set(
                    vec![StrPat::Eq("1".into()), StrPat::Eq("2".into())],
                    true,
                    false,
                ),
            ),
            ("answers.Type", eq(&["1"])),
            ("query_name", eq(&["1"])),
        ];
        for (field, test) in &refused {
            assert!(on(field, test).is_none(), "{field} {test:?}");
        }
    }

    /// The check never rules out an item that reading the answers finds true.
    #[test]
    fn a_ruled_out_item_is_one_the_answers_do_not_meet() {
        let lines = [
            r#"[{"Rdata":"169.254.169.254","Type":"A","Class":"IN"}]"#,
            r#"[{"Rdata":"93.184.216.34","Type":"A"},{"Rdata":"169.254.169.254"}]"#,
            r#"[{"Rdata":"169.254.169.2540"}]"#,
            r#"[{"Rdata":"\u0031\u0036\u0039.\u0032\u0035\u0034.\u0031\u0036\u0039.\u0032\u0035\u0034"}]"#,
            r#"[{"Rdata":"93.184.216.34"}]"#,
            r#"[]"#,
            r#"[{"Rdata":169.254}]"#,
            r#"[{"Rdata":["169.254.169.254"]}]"#,
            r#"[[{"Rdata":"169.254.169.254"}]]"#,
        ];
        const HEAD: &str = r#""query_timestamp":"2024-01-01T00:00:00Z","query_name":"x.example.""#;
        let test = eq(&["169.254.169.254", "169.254"]);
        let check = on("answers.Rdata", &test).unwrap();
        let (mut met, mut ruled_out) = (0, 0);
        for answers in lines.iter().map(Some).chain([None]) {
            let line = match answers {
                Some(a) => format!(r#"{{{HEAD},"answers":{a}}}"#),
                None => format!("{{{HEAD}}}"),
            };
            let r = DnsRecord::parse(&line).unwrap();
            let (d, lazy) = (DnsDerived::default(), DnsLazy::default());
            let mut vals = Vals::new();
            Event::Dns(&r, &d, &lazy).values("answers.Rdata", &mut vals);
            let holds = test.eval(&vals, &mut |_| Vec::new());
            met += usize::from(holds);
            if !check.may_hold(r.answers) {
                ruled_out += 1;
                assert!(!holds, "{line}");
            }
        }
        // Both outcomes were exercised: answers that meet the item (the plain, escaped and
        // numeric ones) and answers ruled out without being read.
        assert!(met >= 4, "{met}");
        assert!(ruled_out >= 2, "{ruled_out}");
    }
}
