//! Typed tests for flow-log items.
//!
//! A flow record's ports, protocol, counts and action are parsed once, as numbers and an enum,
//! when the line is split ([`FlowRecord`]). A rule item such as `dstport: [22, 3389]` or
//! `packets|lte: 3` would otherwise look the column's text up again, then hash it into a string
//! set or parse it back into a number, for every record and every such item; with thirty flow
//! rules that was a quarter of a flow scan. Here such an item is compiled, once per plan, into a
//! test on the typed value.
//!
//! Numeric columns compare as numbers: `dstport: 22` holds for a column written `022` too (AWS
//! never writes one). Everything else about an item's meaning is kept: a column that is absent
//! or `-` meets no value and no comparison, as its text does not, and items a typed test cannot
//! express exactly (`|contains`, `|re`, `|all`, `null`, values that are not canonical decimal
//! numbers) are left to the text path.

use trailhound_model::{FlowAction, FlowField, FlowRecord};
use trailhound_rules::matcher::{Cmp, NetSet, Test};

use crate::fields::FieldRef;

/// An item's test on a typed flow column.
#[derive(Debug, Clone)]
pub enum FlowTest {
    /// The column's number is one of these (sorted).
    In(FlowField, Box<[u64]>),
    /// The column's number meets one of these comparisons.
    Num(FlowField, Box<[(Cmp, f64)]>),
    /// `action` is `ACCEPT` (first) or `REJECT` (second) and that value is wanted.
    Action(bool, bool),
    /// `srcaddr` (first `true`) or `dstaddr` is in the networks.
    Addr(bool, NetSet),
}

/// The typed value of a numeric flow column, `None` when absent or `-` (or not a typed column).
#[inline]
pub fn number(r: &FlowRecord<'_>, f: FlowField) -> Option<u64> {
    match f {
        FlowField::Srcport => r.srcport.map(u64::from),
        FlowField::Dstport => r.dstport.map(u64::from),
        FlowField::Protocol => r.protocol.map(u64::from),
        FlowField::Packets => r.packets,
        FlowField::Bytes => r.bytes,
        FlowField::TcpFlags => r.tcp_flags.map(u64::from),
        _ => None,
    }
}

/// True for the columns [`number`] reads.
pub fn is_typed(f: FlowField) -> bool {
    matches!(
        f,
        FlowField::Srcport
            | FlowField::Dstport
            | FlowField::Protocol
            | FlowField::Packets
            | FlowField::Bytes
            | FlowField::TcpFlags
    )
}

/// `s` as a number when it is written the one way a number prints (`22`, not `022` or `+22`).
fn canonical(s: &str) -> Option<u64> {
    let n: u64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl FlowTest {
    /// The typed form of a flow item's test on field `fr`, when there is an exact one.
    pub fn compile(fr: &FieldRef, test: &Test) -> Option<FlowTest> {
        let FieldRef::Flow(field, _) = fr else {
            return None;
        };
        let field = *field;
        match test {
            Test::Str(s) => {
                if !s.is_plain_eq() {
                    return None;
                }
                if field == FlowField::Action {
                    // The parser takes no other action text (it rejects the record).
                    return Some(FlowTest::Action(
                        s.matches_one("ACCEPT"),
                        s.matches_one("REJECT"),
                    ));
                }
                if !is_typed(field) {
                    return None;
                }
                let mut values =
                    s.eq.iter()
                        .map(|v| canonical(v))
                        .collect::<Option<Vec<u64>>>()?;
                values.sort_unstable();
                values.dedup();
                Some(FlowTest::In(field, values.into_boxed_slice()))
            }
            Test::Cidr(set) if matches!(field, FlowField::Srcaddr | FlowField::Dstaddr) => {
                Some(FlowTest::Addr(field == FlowField::Srcaddr, set.clone()))
            }
            Test::Num(cmps) if is_typed(field) => {
                Some(FlowTest::Num(field, cmps.clone().into_boxed_slice()))
            }
            _ => None,
        }
    }

    /// The test on a record.
    #[inline]
    pub fn eval(&self, r: &FlowRecord<'_>) -> bool {
        match self {
            FlowTest::In(f, values) => number(r, *f).is_some_and(|v| {
                if values.len() <= 8 {
                    values.contains(&v)
                } else {
                    values.binary_search(&v).is_ok()
                }
            }),
            FlowTest::Num(f, cmps) => number(r, *f).is_some_and(|v| {
                let x = v as f64;
                cmps.iter().any(|(c, y)| match c {
                    Cmp::Gt => x > *y,
                    Cmp::Gte => x >= *y,
                    Cmp::Lt => x < *y,
                    Cmp::Lte => x <= *y,
                })
            }),
            FlowTest::Action(accept, reject) => match r.action {
                Some(FlowAction::Accept) => *accept,
                Some(FlowAction::Reject) => *reject,
                None => false,
            },
            FlowTest::Addr(src, set) => {
                let ip = if *src { r.srcaddr } else { r.dstaddr };
                ip.is_some_and(|a| set.contains(a))
            }
        }
    }

    /// How cheap an item is to test on a flow record, for ordering a selection's items: typed
    /// tests first, address tables (a lookup in up to tens of thousands of networks) last.
    pub fn cost(field: Option<&str>, test: &Test) -> u8 {
        if matches!(test, Test::Cidr(_)) {
            return 2;
        }
        let fr = FieldRef::resolve(trailhound_model::LogKind::VpcFlow, field);
        if FlowTest::compile(&fr, test).is_some() {
            0
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Event, Vals};
    use trailhound_model::FlowSchema;
    use trailhound_rules::matcher::{StrPat, StrSet};

    fn str_test(vals: &[&str], cased: bool, null_ok: bool) -> Test {
        let pats = vals.iter().map(|v| StrPat::Eq((*v).to_owned())).collect();
        Test::Str(StrSet::build(pats, cased, false, null_ok).unwrap())
    }

    /// The typed test and the text path agree on every line of a small corpus.
    fn agree(field: &str, test: &Test) {
        let fr = FieldRef::resolve(trailhound_model::LogKind::VpcFlow, Some(field));
        let typed = FlowTest::compile(&fr, test).expect("typed");
        let schema = FlowSchema::default_v2();
        let lines = [
            "2 1 eni-1 10.0.0.1 198.51.100.1 40000 22 6 3 180 1704067200 1704067260 ACCEPT OK",
            "2 1 eni-1 10.0.0.1 198.51.100.1 40000 3389 17 2 90 1704067200 1704067260 REJECT OK",
            "2 1 eni-1 10.0.0.1 198.51.100.1 22 443 1 50000001 9 1704067200 1704067260 ACCEPT OK",
            "2 1 eni-1 - - - - - - - 1704067200 1704067260 - NODATA",
        ];
        for line in lines {
            let mut ends = Vec::new();
            let r = FlowRecord::parse(line, &schema, &mut ends).unwrap();
            let mut vals = Vals::new();
            Event::Flow(&r).values_ref(&fr, &mut vals);
            let text = test.eval(&vals, &mut |_| Vec::new());
            assert_eq!(typed.eval(&r), text, "{field} on {line}");
        }
    }

    #[test]
    fn typed_tests_agree_with_the_text_path() {
        agree("dstport", &str_test(&["22", "3389"], false, false));
        agree("srcport", &str_test(&["22"], false, false));
        agree("protocol", &str_test(&["6"], false, false));
        agree("action", &str_test(&["accept"], false, false));
        agree("action", &str_test(&["REJECT"], true, false));
        agree("action", &str_test(&["accept"], true, false));
        agree("packets", &Test::Num(vec![(Cmp::Lte, 3.0)]));
        agree("packets", &Test::Num(vec![(Cmp::Gt, 0.0)]));
        agree("bytes", &Test::Num(vec![(Cmp::Gte, 50_000_000.0)]));
        agree("bytes", &Test::Num(vec![(Cmp::Lt, 100.0), (Cmp::Gt, 1e6)]));
        let private = trailhound_rules::matcher::Net::parse("10.0.0.0/8").unwrap();
        agree("srcaddr", &Test::Cidr(NetSet::new(&[private])));
        agree("dstaddr", &Test::Cidr(NetSet::new(&[private])));
    }

    #[test]
    fn items_without_an_exact_typed_form_stay_on_the_text_path() {
        let fr = |f| FieldRef::resolve(trailhound_model::LogKind::VpcFlow, Some(f));
        // A value that is not how the number prints.
        assert!(FlowTest::compile(&fr("dstport"), &str_test(&["022"], false, false)).is_none());
        // `null` among the values.
        assert!(FlowTest::compile(&fr("dstport"), &str_test(&["22"], false, true)).is_none());
        // A text column.
        assert!(
            FlowTest::compile(&fr("interface-id"), &str_test(&["eni-1"], false, false)).is_none()
        );
        let starts = Test::Str(
            StrSet::build(vec![StrPat::Prefix("2".into())], false, false, false).unwrap(),
        );
        assert!(FlowTest::compile(&fr("dstport"), &starts).is_none());
        assert!(matches!(
            FlowTest::compile(&fr("dstport"), &str_test(&["23", "22"], false, false)),
            Some(FlowTest::In(FlowField::Dstport, v)) if *v == [22, 23]
        ));
    }

    #[test]
    fn address_tables_sort_after_typed_items() {
        let cidr = Test::Cidr(trailhound_rules::matcher::NetSet::new(&[]));
        assert!(
            FlowTest::cost(Some("dstport"), &str_test(&["22"], false, false))
                < FlowTest::cost(Some("srcaddr"), &cidr)
        );
    }
}
