//! JSON lines, the findings' own serde form, one finding a line, serialised in parallel chunks
//! (a scan with 100,000 findings writes hundreds of megabytes of text).

use rayon::prelude::*;
use trailhound_detect::finding::Finding;

/// Findings serialised per chunk of this many.
const CHUNK: usize = 2048;

/// The findings as JSON lines in consecutive chunks, to write one after another without
/// copying them into one buffer.
pub fn to_chunks(findings: &[Finding]) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    let parts: Vec<Vec<u8>> = findings
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut out = Vec::with_capacity(chunk.len() * 1024);
            for f in chunk {
                serde_json::to_writer(&mut out, f)?;
                out.push(b'\n');
            }
            Ok(out)
        })
        .collect::<Result<_, serde_json::Error>>()?;
    Ok(parts)
}
