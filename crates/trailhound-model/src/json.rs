//! Small serde helpers for the loosely-typed corners of AWS JSON logs.
//!
//! AWS is not consistent about scalar types: `readOnly` is a JSON boolean but
//! `sessionContext.attributes.mfaAuthenticated` is the string `"true"`, Route 53 Resolver writes
//! `srcport` as a string, and exporters re-type fields on the way through. These types accept every
//! spelling seen in real exports, so that a record is rejected only when it is really broken.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A boolean that also accepts the strings `"true"`/`"false"` (any case), `"yes"`/`"no"` and `1`/`0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenientBool(pub bool);

impl<'de> Deserialize<'de> for LenientBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientBool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or a boolean-like string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientBool, E> {
                Ok(LenientBool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientBool, E> {
                Ok(LenientBool(v != 0))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientBool, E> {
                Ok(LenientBool(v != 0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientBool, E> {
                if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") || v == "1" {
                    Ok(LenientBool(true))
                } else if v.eq_ignore_ascii_case("false")
                    || v.eq_ignore_ascii_case("no")
                    || v == "0"
                    || v.is_empty()
                {
                    Ok(LenientBool(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A string that also accepts a JSON number or boolean (kept in its textual form).
///
/// Used for identifiers that exporters sometimes re-type, such as ports and account ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenientStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LenientStr(Cow::Borrowed(if v { "true" } else { "false" })))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string, borrowed from the input when it holds no escapes.
///
/// `#[serde(borrow)]` makes a `Cow<str>` field borrow only when the field's type is the `Cow`
/// itself: for an `Option<Cow<str>>` serde uses the `Cow` impl that copies every string (eight
/// allocations a CloudTrail record in `userIdentity` alone, a tenth of the resolver parse).
/// [`opt_cow`] reads an `Option<Cow<str>>` field through this instead.
///
/// ```
/// use std::borrow::Cow;
/// use trailhound_model::json::CowStr;
/// let s: CowStr<'_> = sonic_rs::from_str(r#""us-east-1""#).unwrap();
/// assert!(matches!(s.0, Cow::Borrowed("us-east-1")));
/// let s: CowStr<'_> = sonic_rs::from_str(r#""a\u0041""#).unwrap();
/// assert_eq!(s.0, "aA");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads an `Option<Cow<str>>` field borrowing from the input (see [`CowStr`]); for
/// `#[serde(borrow, default, deserialize_with = "opt_cow")]`.
pub fn opt_cow<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<CowStr<'a>>::deserialize(d)?.map(|c| c.0))
}

/// Reads the raw JSON text at a dotted path (`userIdentity.sessionContext.attributes.mfaAuthenticated`)
/// without parsing anything off the path. A numeric step indexes an array (`resources.0.ARN`).
///
/// Returns `None` when a step is missing or the value there is JSON `null`.
///
/// ```
/// use trailhound_model::json::get_path;
/// let raw = r#"{"userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"},"x":null,"a":[{"k":1}]}"#;
/// assert_eq!(get_path(raw, "userIdentity.type"), Some("\"Root\""));
/// assert_eq!(get_path(raw, "a.0.k"), Some("1"));
/// assert!(get_path(raw, "userIdentity.nope").is_none());
/// assert!(get_path(raw, "x").is_none());
/// ```
pub fn get_path<'a>(raw: &'a str, dotted: &str) -> Option<&'a str> {
    let mut cur = raw.trim_ascii();
    for seg in dotted.split('.') {
        cur = step(cur, seg)?;
    }
    if cur == "null" { None } else { Some(cur) }
}

/// One step of a path: an object member, or an array element when `seg` is a number.
pub fn step<'a>(raw: &'a str, seg: &str) -> Option<&'a str> {
    let v = match raw.as_bytes().first()? {
        b'{' => sonic_rs::get(raw, [seg]).ok()?,
        b'[' => {
            let i: usize = seg.parse().ok()?;
            sonic_rs::to_array_iter(raw).nth(i)?.ok()?
        }
        _ => return None,
    };
    match v.as_raw_cow() {
        Cow::Borrowed(b) => Some(b.trim_ascii()),
        Cow::Owned(o) => reborrow(raw, &o),
    }
}

/// The text of a JSON scalar: strings unescaped (borrowed when free of escapes), other values as
/// written; `None` for `null`.
pub fn leaf_text(raw: &str) -> Option<Cow<'_, str>> {
    // JSON's whitespace is ASCII (space, tab, line feed, carriage return); the Unicode-aware
    // `trim` cost fifty instructions a call here, ten calls a CloudTrail record.
    let raw = raw.trim_ascii();
    if raw == "null" || raw.is_empty() {
        return None;
    }
    if let Some(body) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if !body.contains('\\') {
            return Some(Cow::Borrowed(body));
        }
        return sonic_rs::from_str::<String>(raw).ok().map(Cow::Owned);
    }
    Some(Cow::Borrowed(raw))
}

/// The first line of a sonic-rs error, without the excerpt its `Display` appends.
pub fn short_error(e: &sonic_rs::Error) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("").trim();
    // The position is reported separately (line/record/byte), so it is dropped from the words.
    match first.find(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}

/// Re-borrows `inner` as a slice of `outer` when it points inside it.
///
/// sonic-rs hands back raw sub-slices whose lifetime is tied to a temporary; when the bytes are
/// really inside the caller's buffer this recovers the buffer's lifetime without copying.
pub fn reborrow<'a>(outer: &'a str, inner: &str) -> Option<&'a str> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    outer.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T<'a> {
        b: LenientBool,
        #[serde(borrow)]
        s: LenientStr<'a>,
    }

    #[test]
    fn lenient_types_accept_aws_spellings() {
        let t: T = sonic_rs::from_str(r#"{"b":"TRUE","s":56067}"#).unwrap();
        assert!(t.b.0);
        assert_eq!(t.s.0, "56067");
        let t: T = sonic_rs::from_str(r#"{"b":false,"s":"x"}"#).unwrap();
        assert!(!t.b.0);
        assert!(matches!(t.s.0, Cow::Borrowed("x")));
        assert!(sonic_rs::from_str::<T>(r#"{"b":"maybe","s":"x"}"#).is_err());
    }

    #[test]
    fn leaf_text_drops_json_whitespace_only() {
        assert_eq!(leaf_text(" \t\"a b\"\r\n").as_deref(), Some("a b"));
        assert_eq!(leaf_text("\" x\u{a0}\"").as_deref(), Some(" x\u{a0}"));
        assert_eq!(leaf_text("\n 42 ").as_deref(), Some("42"));
        assert_eq!(leaf_text(" null\n"), None);
        assert_eq!(get_path(" \n{\"a\": \"b\"} ", "a"), Some("\"b\""));
    }

    #[test]
    fn reborrow_only_inside() {
        let outer = "hello world";
        assert_eq!(reborrow(outer, &outer[6..]), Some("world"));
        assert_eq!(reborrow(outer, "world"), None);
    }
}
