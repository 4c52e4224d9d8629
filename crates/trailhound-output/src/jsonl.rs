//! JSON lines, the findings' own serde form, one finding a line, serialised in parallel chunks
//! while earlier chunks are written ([`crate::stream`]).

use std::io::Write;

use trailhound_detect::finding::Finding;

use crate::OutputError;

/// Findings serialised per chunk of this many.
const CHUNK: usize = 1024;

/// Chunk `i` of the findings as JSON lines.
fn chunk(findings: &[Finding], i: usize, out: &mut Vec<u8>) -> Result<(), OutputError> {
    let part = crate::stream::chunk(findings, i, CHUNK);
    out.reserve(part.len() * 1024);
    for f in crate::prefetching(part) {
        sonic_rs::to_writer(&mut *out, f)?;
        out.push(b'\n');
    }
    Ok(())
}

/// Writes the findings as JSON lines to `w`.
pub fn write<W: Write + Send + ?Sized>(w: &mut W, findings: &[Finding]) -> Result<(), OutputError> {
    crate::stream::write_chunks(w, findings.len().div_ceil(CHUNK), |i, out| {
        chunk(findings, i, out)
    })
}
