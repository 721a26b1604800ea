//! Writing a checkpoint behind the engine's back, in small pieces.
//!
//! A checkpoint is usually written by a forked child at the lowest CPU and
//! I/O priority, often on the engine's own core (`src/node/snapshot.rs`).
//! A low priority only chooses who runs next: on a kernel without forced
//! preemption (`PREEMPT_NONE`, the default of many server and VM kernels),
//! a system call runs to its end once begun, so each call the writer makes
//! is time the engine may wait, whatever the writer's priority. And pages
//! written but not yet on disk are the flusher threads' work, at normal
//! priority, and memory the kernel must reclaim.
//!
//! So the writer keeps every call short and its footprint small:
//! - writes of at most [`WRITE_BYTES`] (64 KiB: tens of microseconds to
//!   copy into the page cache, where 1 MiB took hundreds);
//! - every [`FLUSH_BYTES`] (4 MiB) it starts that stretch's write-back
//!   itself (`sync_file_range`, so the I/O is issued at the writer's
//!   priority, not by the flusher threads), waits for the stretch before
//!   it, and drops that one from the page cache (`posix_fadvise`
//!   `DONTNEED`): at most 8 MiB of the checkpoint is dirty or cached at a
//!   time, where a 170 MB checkpoint otherwise filled the page cache and set
//!   the kernel reclaiming and compacting memory beside the engine.
//!   PostgreSQL's `checkpoint_flush_after` does the same for its checkpoints.
//!
//! Elsewhere than Linux the stretches are only written; the final sync does
//! the rest.

use std::fs::File;
use std::io::{self, Write};

/// The largest write handed to the kernel at once.
pub const WRITE_BYTES: usize = 64 << 10;

/// How much is written before its write-back is started.
pub const FLUSH_BYTES: u64 = 4 << 20;

/// A file written at `offset` onwards, flushed behind the writer.
pub struct Behind<'a> {
    file: &'a mut File,
    /// The end of what was written.
    offset: u64,
    /// Where the stretch not yet handed to write-back starts.
    unflushed: u64,
    /// The stretch handed to write-back last, not yet waited for.
    in_flight: Option<(u64, u64)>,
}

impl<'a> Behind<'a> {
    pub fn new(file: &'a mut File, offset: u64) -> Behind<'a> {
        Behind {
            file,
            offset,
            unflushed: offset,
            in_flight: None,
        }
    }

    /// Hands the stretch since the last flush to write-back, then waits for
    /// the one before it and drops it from the page cache. Advice only: a
    /// file system that refuses it (or a failed write-back, which the final
    /// sync reports) does not stop the writer.
    fn flush_behind(&mut self) {
        let stretch = (self.unflushed, self.offset - self.unflushed);
        self.unflushed = self.offset;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            let range = |(at, len): (u64, u64), flags| {
                // SAFETY: a plain system call on a descriptor this value owns
                // a borrow of; the kernel only reads the arguments.
                let r = unsafe { libc::sync_file_range(fd, at as i64, len as i64, flags) };
                if r == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            };
            if range(stretch, libc::SYNC_FILE_RANGE_WRITE).is_err() {
                return;
            }
            if let Some(done) = self.in_flight.replace(stretch) {
                let waited = range(
                    done,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
                if waited.is_err() {
                    return;
                }
                // SAFETY: as above; advice only, its failure changes nothing.
                unsafe {
                    libc::posix_fadvise(fd, done.0 as i64, done.1 as i64, libc::POSIX_FADV_DONTNEED)
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = stretch;
    }
}

impl Write for Behind<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(&buf[..buf.len().min(WRITE_BYTES)])?;
        self.offset += n as u64;
        if self.offset - self.unflushed >= FLUSH_BYTES {
            self.flush_behind();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn what_is_written_behind_is_the_file_whole_in_calls_of_at_most_64_kib() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("behind");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"head").unwrap();
        // Past two flushes, in pieces larger than a write may be.
        let data: Vec<u8> = (0..(9 << 20) + 123).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = Behind::new(&mut file, 4);
        let mut calls = 0;
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = w.write(rest).unwrap();
            assert!(n > 0 && n <= WRITE_BYTES, "a write of {n} bytes");
            rest = &rest[n..];
            calls += 1;
        }
        assert!(calls >= data.len() / WRITE_BYTES);
        assert!(w.in_flight.is_some(), "two stretches were flushed behind");
        w.flush().unwrap();
        file.sync_all().unwrap();
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(&back[..4], b"head");
        assert!(back[4..] == data[..], "the file holds what was written");
    }
}
