//! Writes sorted entries as an index: records streamed to `OUTPUT.tmp`, the
//! header and prefix table written last, fsync, rename.

use super::super::format::{self, Header};
use super::super::PwnedError;
use super::sort::Entry;
use sha1::{Digest, Sha1};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct IndexWriter {
    tmp: PathBuf,
    file: File,
    range: bool,
    record: usize,
    /// Which bits of `mid` and `lo` a record keeps: equal kept bits, one record.
    keep_mid: u64,
    keep_lo: u32,
    pending: Option<Entry>,
    /// Records per bucket.
    buckets: Vec<u64>,
    buf: Vec<u8>,
    body: Sha1,
    written: u64,
    pub merged: u64,
}

impl IndexWriter {
    pub fn create(output: &Path, range: bool) -> Result<IndexWriter, PwnedError> {
        let mut name = output.as_os_str().to_owned();
        name.push(".tmp");
        let tmp = PathBuf::from(name);
        let mut file = File::create(&tmp).map_err(|source| PwnedError::Io {
            path: tmp.clone(),
            source,
        })?;
        // The header and table go in last, once counted.
        file.seek(SeekFrom::Start(format::BODY_OFFSET as u64))
            .map_err(|source| PwnedError::Io {
                path: tmp.clone(),
                source,
            })?;
        let (record, keep_mid, keep_lo) = if range {
            (format::RANGE_RECORD, u64::MAX, u32::MAX)
        } else {
            // 20 + 60 bits: all of `hi` and the top 16 bits of `mid`.
            (format::LOOKUP_RECORD, !0u64 << 48, 0)
        };
        Ok(IndexWriter {
            tmp,
            file,
            range,
            record,
            keep_mid,
            keep_lo,
            pending: None,
            buckets: vec![0; format::BUCKETS],
            buf: Vec::with_capacity(1 << 20),
            body: Sha1::new(),
            written: 0,
            merged: 0,
        })
    }

    fn io(&self, source: std::io::Error) -> PwnedError {
        PwnedError::Io {
            path: self.tmp.clone(),
            source,
        }
    }

    /// Adds the next entry in hash order; one equal to the last in its kept
    /// bits adds its count to it.
    #[inline]
    pub fn push(&mut self, e: Entry) -> Result<(), PwnedError> {
        if let Some(p) = &mut self.pending {
            if p.hi == e.hi
                && p.mid & self.keep_mid == e.mid & self.keep_mid
                && p.lo & self.keep_lo == e.lo & self.keep_lo
            {
                p.count = p.count.saturating_add(e.count);
                self.merged += 1;
                return Ok(());
            }
            debug_assert!(p.hash() < e.hash(), "entries out of order");
            let p = *p;
            self.emit(p)?;
        }
        self.pending = Some(e);
        Ok(())
    }

    #[inline]
    fn emit(&mut self, e: Entry) -> Result<(), PwnedError> {
        let h = e.hash();
        self.buckets[format::prefix_of(&h)] += 1;
        let at = self.buf.len();
        self.buf.resize(at + self.record, 0);
        format::put_record(
            &mut self.buf[at..],
            &format::suffix_of(&h),
            format::count_code(e.count),
        );
        self.written += 1;
        if self.buf.len() >= (1 << 20) - 32 {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), PwnedError> {
        self.body.update(&self.buf);
        let r = self.file.write_all(&self.buf);
        self.buf.clear();
        r.map_err(|e| self.io(e))
    }

    /// Writes the header and table, syncs, and renames into place. Returns
    /// the file's size and the records written. With nothing written, removes
    /// the temporary file and returns `None`.
    pub fn finish(mut self, output: &Path) -> Result<Option<(u64, u64)>, PwnedError> {
        if let Some(p) = self.pending.take() {
            self.emit(p)?;
        }
        if self.written == 0 {
            let _ = fs::remove_file(&self.tmp);
            return Ok(None);
        }
        self.flush_buf()?;
        let mut table = Vec::with_capacity(format::TABLE_LEN);
        let mut at = 0u64;
        table.extend_from_slice(&at.to_le_bytes());
        for n in &self.buckets {
            at += n;
            table.extend_from_slice(&at.to_le_bytes());
        }
        let header = Header {
            version: format::VERSION,
            flags: if self.range { format::FLAG_RANGE } else { 0 },
            count: self.written,
            record: self.record as u32,
            prefix_bits: format::PREFIX_BITS,
            body_sha1: std::mem::take(&mut self.body).finalize().into(),
        };
        let head = header.encode(&table);
        let r = (|| {
            self.file.seek(SeekFrom::Start(0))?;
            self.file.write_all(&head)?;
            self.file.write_all(&table)?;
            self.file.sync_all()?;
            self.file.metadata().map(|m| m.len())
        })();
        let size = r.map_err(|e| self.io(e))?;
        fs::rename(&self.tmp, output).map_err(|source| PwnedError::Io {
            path: output.to_path_buf(),
            source,
        })?;
        // The rename is durable once the directory is synced.
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(Some((size, self.written)))
    }

    /// Removes the temporary file after a failed build.
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}
