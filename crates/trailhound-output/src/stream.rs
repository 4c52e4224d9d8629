//! Serialising on the rayon pool while earlier output is being written.
//!
//! A scan that raises 100,000 findings writes hundreds of megabytes of JSON. Serialising it all
//! and then writing it costs the sum of both; here chunks are serialised a wave at a time on the
//! pool while a writer thread writes the previous wave, so the write overlaps the work, memory
//! holds two waves rather than the whole output, and the bytes still come out in order.

use std::io::Write;
use std::sync::mpsc;

use rayon::prelude::*;

use crate::OutputError;

/// Chunk `i` of `items` cut in chunks of `size` (empty past the end).
pub(crate) fn chunk<T>(items: &[T], i: usize, size: usize) -> &[T] {
    let start = i.saturating_mul(size).min(items.len());
    &items[start..(start + size).min(items.len())]
}

/// Chunks serialised per wave (a few per pool thread keeps the pool busy).
fn wave_len() -> usize {
    rayon::current_num_threads().max(1) * 2
}

/// Writes chunks `0..n`, made by `make` into the buffer it is given (empty, reused), to `w` in
/// order. `make` runs on the rayon pool; the writes happen on a thread of their own.
///
/// The writer hands each buffer back once written, so a run of hundreds of megabytes cycles
/// through a few waves' worth of buffers instead of asking the allocator (and the kernel, one
/// zeroed page at a time) for every chunk anew.
pub fn write_chunks<W>(
    w: &mut W,
    n: usize,
    make: impl Fn(usize, &mut Vec<u8>) -> Result<(), OutputError> + Sync,
) -> Result<(), OutputError>
where
    W: Write + Send + ?Sized,
{
    let wave = wave_len();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(wave);
        let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
        let writer = s.spawn(move || -> std::io::Result<()> {
            for chunk in rx {
                w.write_all(&chunk)?;
                // The producer may be done and gone: then the buffer is simply dropped.
                let _ = back_tx.send(chunk);
            }
            w.flush()
        });
        let mut made = Ok(());
        let mut start = 0;
        'waves: while start < n {
            let end = (start + wave).min(n);
            let bufs: Vec<Vec<u8>> = (start..end)
                .map(|_| back_rx.try_recv().unwrap_or_default())
                .collect();
            let parts: Result<Vec<Vec<u8>>, OutputError> = bufs
                .into_par_iter()
                .zip(start..end)
                .map(|(mut buf, i)| {
                    buf.clear();
                    make(i, &mut buf).map(|()| buf)
                })
                .collect();
            match parts {
                Ok(parts) => {
                    for p in parts {
                        if tx.send(p).is_err() {
                            // The writer stopped on an error; it is reported below.
                            break 'waves;
                        }
                    }
                }
                Err(e) => {
                    made = Err(e);
                    break;
                }
            }
            start = end;
        }
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the output writer thread panicked")));
        made?;
        written.map_err(OutputError::Io)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_out_in_order() {
        let mut out = Vec::new();
        write_chunks(&mut out, 100, |i, buf| {
            // Buffers come back empty, whichever chunk used them before.
            assert!(buf.is_empty());
            buf.extend_from_slice(format!("{i},").as_bytes());
            Ok(())
        })
        .map_err(|e| e.to_string())
        .ok();
        let want: String = (0..100).map(|i| format!("{i},")).collect();
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    #[test]
    fn a_failing_chunk_is_the_error() {
        let mut out = Vec::new();
        let r = write_chunks(&mut out, 50, |i, buf| {
            if i == 37 {
                Err(OutputError::Parquet("chunk 37".into()))
            } else {
                buf.push(b'x');
                Ok(())
            }
        });
        assert!(matches!(r, Err(OutputError::Parquet(m)) if m == "chunk 37"));
    }

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_write_is_the_error() {
        let r = write_chunks(&mut Full, 1000, |_, buf| {
            buf.extend_from_slice(&[b'x'; 10]);
            Ok(())
        });
        assert!(matches!(r, Err(OutputError::Io(e)) if e.to_string() == "disk full"));
    }
}
