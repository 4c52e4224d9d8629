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
/// into vector compares: the byte-at-a-time escaper cost a quarter of writing ASFF.
fn needs_escape(b: &[u8]) -> bool {
    #[inline(always)]
    fn bad(x: u8) -> bool {
        x < 0x20 || x == b'"' || x == b'\\'
    }
    let mut blocks = b.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |m, &x| m | bad(x)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&x| bad(x))
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
