//! A JSON object's top-level members, captured in one pass: each key with its value's raw text.
//!
//! This is how records are parsed on the hot path. One pass over the object finds every member
//! and skips over its value (sonic-rs's SIMD skip), keeping a slice of the input for it; the typed
//! core fields are then read from those slices, and any other field is reached through its
//! top-level member without rescanning the record. Compared with "split the array, then parse each
//! element", this touches every byte once instead of twice.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;

use crate::RecordError;
use crate::json::{get_path, short_error};

/// A member name, borrowed from the input unless it has escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level members of one JSON value (empty and flagged when the value is not an object).
#[derive(Debug, Clone, Default)]
pub struct Members<'a> {
    items: SmallVec<[(Cow<'a, str>, &'a str); 24]>,
    not_object: bool,
}

impl<'a> Members<'a> {
    /// Captures the members of the JSON text `raw` (which must be one complete value).
    ///
    /// ```
    /// use trailhound_model::Members;
    /// let m = Members::parse(r#"{"a": {"b": [1, 2]}, "c": "x"}"#).unwrap();
    /// assert_eq!(m.get("a"), Some(r#"{"b": [1, 2]}"#));
    /// assert_eq!(m.path("a.b.1"), Some("2"));
    /// assert_eq!(m.len(), 2);
    /// assert!(Members::parse("[1]").unwrap().is_not_object());
    /// assert!(Members::parse(r#"{"a": tru}"#).is_err());
    /// ```
    pub fn parse(raw: &'a str) -> Result<Self, RecordError> {
        let mut de = sonic_rs::Deserializer::from_str(raw);
        let m = MembersSeed { input: raw }
            .deserialize(&mut de)
            .map_err(|e| RecordError::Json(short_error(&e)))?;
        de.end().map_err(|e| RecordError::Json(short_error(&e)))?;
        Ok(m)
    }

    /// The raw text of a top-level member (`null` included).
    #[inline]
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The raw text at a dotted path from the top (`userIdentity.arn`, `resources.0.ARN`); `None`
    /// when absent or `null`.
    pub fn path(&self, dotted: &str) -> Option<&'a str> {
        let (head, rest) = match dotted.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (dotted, None),
        };
        let v = self.get(head)?;
        match rest {
            None if v == "null" => None,
            None => Some(v),
            Some(r) => get_path(v, r),
        }
    }

    /// Members in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a str)> + '_ {
        self.items.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the object has no members.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True when the value was not a JSON object at all.
    pub fn is_not_object(&self) -> bool {
        self.not_object
    }

    /// Byte offset of the first member's value inside `outer` (for error positions).
    pub fn offset_in(&self, outer: &str) -> Option<usize> {
        let (_, v) = self.items.first()?;
        (v.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)
    }
}

/// Where a record's fields come from: its JSON text (read by path on demand) or its captured
/// top-level members.
#[derive(Debug, Clone)]
pub enum Fields<'a> {
    /// The record's JSON text.
    Text(&'a str),
    /// The record's top-level members (boxed: records read this way are the rare pretty-printed
    /// or array-shaped files, and the box keeps the common variant small).
    Members(Box<Members<'a>>),
}

impl<'a> Fields<'a> {
    /// The raw JSON text at a dotted path; `None` when absent or `null`.
    pub fn path(&self, dotted: &str) -> Option<&'a str> {
        match self {
            Fields::Text(t) => get_path(t, dotted),
            Fields::Members(m) => m.path(dotted),
        }
    }
}

/// Deserializes a [`Members`] from a deserializer reading `input`.
///
/// The input is needed because sonic-rs hands out a string value that contains escapes as an
/// owned copy of its raw text; the seed finds those bytes in the input again (right after the
/// member's key) so that every value stays a borrowed slice.
pub struct MembersSeed<'a> {
    /// The whole input the deserializer reads.
    pub input: &'a str,
}

fn locate<'a>(input: &'a str, key: &str, owned: &str) -> Option<&'a str> {
    let b = input.as_bytes();
    let mut i = (key.as_ptr() as usize).checked_sub(input.as_ptr() as usize)? + key.len();
    if i > b.len() || b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let v = input.get(i..i + owned.len())?;
    (v == owned).then_some(v)
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'de> {
    type Value = Members<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Members<'de>, D::Error> {
        struct V<'de> {
            input: &'de str,
        }
        fn not_object<'a, E>() -> Result<Members<'a>, E> {
            Ok(Members {
                items: SmallVec::new(),
                not_object: true,
            })
        }
        impl<'de> Visitor<'de> for V<'de> {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut items = SmallVec::new();
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    let lazy = map.next_value::<sonic_rs::LazyValue<'de>>()?;
                    let v = match lazy.as_raw_cow() {
                        Cow::Borrowed(s) => s,
                        Cow::Owned(o) => match &k {
                            Cow::Borrowed(kb) => locate(self.input, kb, &o),
                            Cow::Owned(_) => None,
                        }
                        .ok_or_else(|| {
                            de::Error::custom("value is not addressable in the input")
                        })?,
                    };
                    items.push((k, v));
                }
                Ok(Members {
                    items,
                    not_object: false,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                not_object()
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Members<'de>, E> {
                not_object()
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Members<'de>, E> {
                not_object()
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Members<'de>, E> {
                not_object()
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Members<'de>, E> {
                not_object()
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Members<'de>, E> {
                not_object()
            }
            fn visit_unit<E: de::Error>(self) -> Result<Members<'de>, E> {
                not_object()
            }
        }
        d.deserialize_any(V { input: self.input })
    }
}

/// Walks a `{"Records":[…]}` document (or a bare array of records) in one pass, calling `f` with
/// each record's members and its index as soon as it is read. Returns whether records were found
/// (a `Records` member, or the document is an array).
///
/// Records before a syntax error have been delivered when the error is returned.
pub fn for_each_record_member<'a>(
    text: &'a str,
    f: &mut dyn FnMut(Members<'a>, u64),
) -> Result<bool, sonic_rs::Error> {
    struct Doc<'f, 'a> {
        f: &'f mut dyn FnMut(Members<'a>, u64),
        input: &'a str,
    }
    struct Seq<'f, 'a> {
        f: &'f mut dyn FnMut(Members<'a>, u64),
        input: &'a str,
    }
    impl<'de, 'f> DeserializeSeed<'de> for Doc<'f, 'de> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de, 'f> Visitor<'de> for Doc<'f, 'de> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object with a Records array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
            Seq {
                f: self.f,
                input: self.input,
            }
            .visit_seq(seq)?;
            Ok(true)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut found = false;
            while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                if k == "Records" && !found {
                    map.next_value_seed(Seq {
                        f: &mut *self.f,
                        input: self.input,
                    })?;
                    found = true;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de, 'f> DeserializeSeed<'de> for Seq<'f, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de, 'f> Visitor<'de> for Seq<'f, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0u64;
            while let Some(m) = seq.next_element_seed(MembersSeed { input: self.input })? {
                (self.f)(m, i);
                i += 1;
            }
            Ok(())
        }
    }
    let mut de = sonic_rs::Deserializer::from_str(text);
    let found = Doc { f, input: text }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_document_in_one_pass() {
        let text = r#"{"Records": [{"a": 1, "b": {"c": "d"}}, 7, {"e\u0041": null, "s": "q\"uote"}], "x": 1}"#;
        let mut seen = Vec::new();
        let found = for_each_record_member(text, &mut |m, i| {
            seen.push((
                i,
                m.is_not_object(),
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            ));
        })
        .unwrap();
        assert!(found);
        assert_eq!(
            seen[0],
            (
                0,
                false,
                vec!["a=1".to_string(), "b={\"c\": \"d\"}".to_string()]
            )
        );
        assert_eq!(seen[1], (1, true, vec![]));
        assert_eq!(
            seen[2],
            (
                2,
                false,
                vec!["eA=null".to_string(), "s=\"q\\\"uote\"".to_string()]
            )
        );
    }

    #[test]
    fn records_before_a_break_are_delivered() {
        let mut n = 0;
        let err = for_each_record_member(r#"{"Records": [{"a": 1}, {"b": ]}"#, &mut |_, _| n += 1)
            .unwrap_err();
        assert_eq!(n, 1);
        assert!(err.offset() > 20);
        assert!(!for_each_record_member(r#"{"other": []}"#, &mut |_, _| {}).unwrap());
        let mut n = 0;
        assert!(for_each_record_member(r#"[{"a":1},{"b":2}]"#, &mut |_, _| n += 1).unwrap());
        assert_eq!(n, 2);
        assert!(for_each_record_member(r#"{"Records": []} junk"#, &mut |_, _| {}).is_err());
    }
}
