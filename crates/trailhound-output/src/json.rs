//! JSON strings escaped as serde_json escapes them, for the writers that put JSON together by
//! hand (ASFF, OCSF's `unmapped`): nearly every value needs no escape and is copied whole.

/// Appends `s` as a JSON string (serde_json's escapes: the short forms, else `\u00xx`).
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        // Nearly every value (ids, ARNs, times, addresses): one copy.
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte of `b` must be escaped in a JSON string (`"`, `\\`, control characters).
/// Tested 16 bytes at a time without an early exit inside a block, which the compiler turns
/// into vector compares: the byte-at-a-time escaper cost a quarter of writing ASFF. The bytes
/// after the last whole block, and strings shorter than a block (most values: regions,
/// accounts, API names, addresses), are tested as one block too, put together from
/// overlapping ends of the string: a byte loop over them was the hottest part of `json_str`.
fn needs_escape(b: &[u8]) -> bool {
    #[inline(always)]
    fn bad(x: u8) -> bool {
        x < 0x20 || x == b'"' || x == b'\\'
    }
    #[inline(always)]
    fn any_bad(block: &[u8]) -> bool {
        block.iter().fold(false, |m, &x| m | bad(x))
    }
    let n = b.len();
    if n >= 16 {
        let mut blocks = b.chunks_exact(16);
        for block in &mut blocks {
            if any_bad(block) {
                return true;
            }
        }
        // The last 16 bytes: the remainder and some bytes already tested.
        return !blocks.remainder().is_empty() && any_bad(&b[n - 16..]);
    }
    // Fewer than 16 bytes: the first and last 8 (or 4) overlap and cover them all; of one to
    // three bytes, the first, middle and last are all of them. Spaces fill the rest.
    let mut block = [b' '; 16];
    if n >= 8 {
        block[..8].copy_from_slice(&b[..8]);
        block[8..].copy_from_slice(&b[n - 8..]);
    } else if n >= 4 {
        block[..4].copy_from_slice(&b[..4]);
        block[4..8].copy_from_slice(&b[n - 4..]);
    } else if n > 0 {
        block[..3].copy_from_slice(&[b[0], b[n / 2], b[n - 1]]);
    }
    any_bad(&block)
}

/// A finding time as a JSON string (`"2024-01-01T00:00:00.000Z"`); the text needs no escapes.
pub(crate) fn json_time(out: &mut Vec<u8>, t: i64) {
    out.push(b'"');
    trailhound_model::time::with_millis_text(t, |text| out.extend_from_slice(text.as_bytes()));
    out.push(b'"');
}

/// Appends an `f64` as serde_json writes it (shortest round-trip form, `2.0` not `2`;
/// non-finite numbers as `null`).
pub(crate) fn json_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends an unsigned integer, as a JSON number or (`quoted`) a JSON string (itoa: `Display`
/// goes through the formatting machinery, a tenth of writing ASFF).
pub(crate) fn json_uint(out: &mut Vec<u8>, n: u64, quoted: bool) {
    let mut b = itoa::Buffer::new();
    if quoted {
        out.push(b'"');
    }
    out.extend_from_slice(b.format(n).as_bytes());
    if quoted {
        out.push(b'"');
    }
}

/// Appends a string or `null`.
pub(crate) fn json_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends an array of strings.
pub(crate) fn json_strs(out: &mut Vec<u8>, v: &[String]) {
    out.push(b'[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, s);
    }
    out.push(b']');
}

/// A JSON object being written: `key` writes the separator and the (constant) key. The writers
/// add their own members (ASFF's address and port details) in `impl Obj` blocks of their own.
pub(crate) struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    pub(crate) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }
    pub(crate) fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }
    pub(crate) fn str(&mut self, k: &str, v: &str) {
        json_str(self.key(k), v);
    }
    pub(crate) fn raw(&mut self, k: &str, v: &str) {
        self.key(k).extend_from_slice(v.as_bytes());
    }
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
    /// The output, the object left open, for a writer that appends the rest of its members (each
    /// with its own separator) as bytes of its own.
    pub(crate) fn into_inner(self) -> &'o mut Vec<u8> {
        self.out
    }
    /// An object of `out` that already has members (written as bytes, after [`Obj::into_inner`]
    /// or by hand): the next member gets its separator.
    pub(crate) fn resume(out: &'o mut Vec<u8>) -> Self {
        Obj { out, first: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_escape_is_found_at_every_place_of_every_short_length() {
        for n in 0..48 {
            let clean = vec![b'a'; n];
            assert!(!needs_escape(&clean), "{n} clean bytes");
            for at in 0..n {
                for esc in [b'"', b'\\', b'\n', 0, 0x1f] {
                    let mut t = clean.clone();
                    t[at] = esc;
                    assert!(needs_escape(&t), "{esc:#x} at {at} of {n}");
                }
                // The bytes just outside the bad ranges are fine.
                for ok in [b' ', b'!', b'#', b'[', b']', 0x7f, 0xff] {
                    let mut t = clean.clone();
                    t[at] = ok;
                    assert!(!needs_escape(&t), "{ok:#x} at {at} of {n}");
                }
            }
        }
    }

    #[test]
    fn numbers_read_as_serde_json_writes_them() {
        for v in [
            0.0,
            1.0,
            2.0,
            5.5,
            8.9,
            7.25,
            0.1,
            1e-7,
            123456789.0,
            -3.5,
            f64::NAN,
        ] {
            let mut out = Vec::new();
            json_f64(&mut out, v);
            assert_eq!(
                String::from_utf8_lossy(&out),
                serde_json::to_string(&v).unwrap_or_default(),
                "{v}"
            );
        }
    }
}
