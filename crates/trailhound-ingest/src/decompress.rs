//! The one gzip reader everything uses: whole-object inflate with libdeflate, multi-member aware,
//! with a hard cap on the decompressed size.
//!
//! libdeflate inflates about twice as fast as zlib-style streaming decoders because it decodes a
//! whole member into a buffer sized in advance (gzip's trailer records each member's size, modulo
//! 2³²). CloudTrail, flow and resolver objects are megabytes, not gigabytes, so whole-object
//! decoding into a per-thread buffer that is reused between objects is both the fastest option and
//! bounded in memory: at most `threads × cap`. Concatenated members (what `cat a.gz b.gz` and some
//! exporters produce) are decoded member by member; a member that lies about its size just makes
//! the buffer grow. Anything past the cap is refused as a decompression bomb.

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_BAD_DATA,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// True when `data` starts with the gzip magic bytes.
pub fn is_gzip(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

/// Why an object could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The data is not gzip at all.
    #[error("not gzip data")]
    NotGzip,
    /// A member is corrupt or cut short.
    #[error("corrupt or truncated gzip member starting at byte {offset}")]
    Corrupt {
        /// Byte offset of the member in the compressed object.
        offset: usize,
    },
    /// Bytes after the last member that are not another member.
    #[error("{len} bytes of trailing garbage after the last gzip member, at byte {offset}")]
    TrailingGarbage {
        /// Where the garbage starts.
        offset: usize,
        /// How much of it there is.
        len: usize,
    },
    /// The object inflates past the configured cap.
    #[error("decompressed size exceeds the cap of {cap} bytes (decompression bomb?)")]
    TooLarge {
        /// The cap in bytes.
        cap: u64,
    },
}

/// A libdeflate decompressor. Create one per thread and reuse it.
pub struct Inflater {
    raw: NonNull<libdeflate_decompressor>,
}

// SAFETY: a libdeflate decompressor is a plain heap object with no thread affinity; `Inflater`
// hands out no shared access to it (all use is through `&mut self`).
unsafe impl Send for Inflater {}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `libdeflate_alloc_decompressor` and is freed exactly once.
        unsafe { libdeflate_free_decompressor(self.raw.as_ptr()) }
    }
}

impl Inflater {
    /// Allocates a decompressor (about 10 KB).
    ///
    /// # Panics
    /// Only when the allocator is out of memory, like any allocation.
    pub fn new() -> Self {
        // SAFETY: plain allocation call with no preconditions.
        let p = unsafe { libdeflate_alloc_decompressor() };
        let Some(raw) = NonNull::new(p) else {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 32768]>())
        };
        Inflater { raw }
    }

    /// Inflates every gzip member of `input` into `out` (cleared first), refusing to produce more
    /// than `cap` bytes.
    ///
    /// ```
    /// use trailhound_ingest::decompress::{Inflater, DecompressError};
    /// let mut gz = Vec::new();
    /// for part in [&b"hello "[..], b"world"] {
    ///     let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    ///     let mut buf = vec![0; c.gzip_compress_bound(part.len())];
    ///     let n = c.gzip_compress(part, &mut buf).unwrap();
    ///     gz.extend_from_slice(&buf[..n]);
    /// }
    /// let mut out = Vec::new();
    /// Inflater::new().gunzip(&gz, 1 << 20, &mut out).unwrap();
    /// assert_eq!(out, b"hello world");
    /// assert_eq!(Inflater::new().gunzip(&gz, 8, &mut out), Err(DecompressError::TooLarge { cap: 8 }));
    /// ```
    pub fn gunzip(
        &mut self,
        input: &[u8],
        cap: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), DecompressError> {
        out.clear();
        if !is_gzip(input) {
            return Err(DecompressError::NotGzip);
        }
        let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
        // The trailer's ISIZE is exact for a single member under 4 GiB: the common case.
        let isize_hint = input
            .len()
            .checked_sub(4)
            .and_then(|i| input.get(i..))
            .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize)
            .unwrap_or(0);
        let mut pos = 0usize;
        while pos < input.len() {
            let rest = &input[pos..];
            if !is_gzip(rest) {
                if rest.iter().all(|&b| b == 0) {
                    break; // zero padding after the last member (tape-style writers)
                }
                return Err(DecompressError::TrailingGarbage {
                    offset: pos,
                    len: rest.len(),
                });
            }
            let room = cap_usize.saturating_sub(out.len());
            if room == 0 {
                return Err(DecompressError::TooLarge { cap });
            }
            let guess = if pos == 0 {
                isize_hint.max(rest.len().saturating_mul(3))
            } else {
                rest.len().saturating_mul(4)
            };
            let mut avail = guess.max(4096).min(room);
            loop {
                // Exactly what libdeflate may write: `reserve` would double a reused buffer that
                // is a little too small (a thread's buffer then held twice its largest object),
                // and an empty one is dropped first so that the old and new are not both held.
                if out.is_empty() && out.capacity() < avail {
                    *out = Vec::new();
                }
                out.reserve_exact(avail);
                let mut in_used = 0usize;
                let mut out_used = 0usize;
                // SAFETY: `out` has at least `avail` bytes of spare capacity after `len()`, which
                // is exactly what libdeflate is told it may write; `rest` is a valid slice. On
                // success libdeflate initialised `out_used <= avail` bytes, which we then expose.
                let ret = unsafe {
                    libdeflate_gzip_decompress_ex(
                        self.raw.as_ptr(),
                        rest.as_ptr().cast(),
                        rest.len(),
                        out.as_mut_ptr().add(out.len()).cast(),
                        avail,
                        &mut in_used,
                        &mut out_used,
                    )
                };
                #[allow(non_upper_case_globals)]
                match ret {
                    libdeflate_result_LIBDEFLATE_SUCCESS => {
                        // SAFETY: see above; `out_used` bytes were written by libdeflate.
                        unsafe { out.set_len(out.len() + out_used) };
                        pos += in_used.max(1);
                        break;
                    }
                    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                        if out.len() as u64 + avail as u64 >= cap {
                            return Err(DecompressError::TooLarge { cap });
                        }
                        avail = avail.saturating_mul(2).min(cap_usize - out.len());
                    }
                    libdeflate_result_LIBDEFLATE_BAD_DATA => {
                        return Err(DecompressError::Corrupt { offset: pos });
                    }
                    _ => return Err(DecompressError::Corrupt { offset: pos }),
                }
            }
            if out.len() as u64 > cap {
                return Err(DecompressError::TooLarge { cap });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut buf = vec![0; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn single_and_multi_member() {
        let a: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut both = gz(&a);
        both.extend(gz(b"tail"));
        let mut out = Vec::new();
        let mut inf = Inflater::new();
        inf.gunzip(&both, u64::MAX, &mut out).unwrap();
        assert_eq!(out.len(), a.len() + 4);
        assert_eq!(&out[a.len()..], b"tail");
        // A small first member followed by a big second one: the size hint is wrong for member 1.
        let mut rev = gz(b"head");
        rev.extend(gz(&a));
        inf.gunzip(&rev, u64::MAX, &mut out).unwrap();
        assert_eq!(out.len(), a.len() + 4);
    }

    #[test]
    fn truncated_corrupt_and_garbage() {
        let g = gz(&vec![b'x'; 100_000]);
        let mut out = Vec::new();
        let mut inf = Inflater::new();
        assert_eq!(
            inf.gunzip(&g[..g.len() / 2], u64::MAX, &mut out),
            Err(DecompressError::Corrupt { offset: 0 })
        );
        let mut bad = g.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // CRC
        assert_eq!(
            inf.gunzip(&bad, u64::MAX, &mut out),
            Err(DecompressError::Corrupt { offset: 0 })
        );
        let mut junk = g.clone();
        junk.extend_from_slice(b"junk");
        assert!(matches!(
            inf.gunzip(&junk, u64::MAX, &mut out),
            Err(DecompressError::TrailingGarbage { len: 4, .. })
        ));
        assert_eq!(
            inf.gunzip(b"plain", u64::MAX, &mut out),
            Err(DecompressError::NotGzip)
        );
    }

    #[test]
    fn bomb_is_capped() {
        let g = gz(&vec![0u8; 50_000_000]);
        assert!(g.len() < 100_000);
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new().gunzip(&g, 10_000_000, &mut out),
            Err(DecompressError::TooLarge { cap: 10_000_000 })
        );
        assert!(out.capacity() <= 20_000_000);
    }
}
