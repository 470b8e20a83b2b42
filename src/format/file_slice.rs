//! A slice of a segment file: whole stored batches, located but not read. Fetch answers
//! carry these; the connection's writer sends them with `sendfile` or reads them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

/// Whole batches of one segment file, located but not read: what a fetch answers with.
/// The file handle stays valid when retention deletes the segment meanwhile.
#[derive(Clone, Debug)]
pub struct FileSlice {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: usize,
}

impl FileSlice {
    /// `len` bytes of `file` (at `path`) from `position`.
    pub fn new(file: Arc<File>, path: PathBuf, position: u64, len: usize) -> Self {
        FileSlice {
            file,
            path,
            position,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Start of the slice in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the slice into memory; a file that no longer holds all of it is an error
    /// (naming the file).
    pub fn read(&self) -> io::Result<Bytes> {
        let mut buf = vec![0u8; self.len];
        let done = pread_upto(&self.file, &mut buf, self.position)
            .map_err(|e| io::Error::new(e.kind(), self.context(&e)))?;
        if done < self.len {
            let short = format!("{} of {} bytes at {}", done, self.len, self.position);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                self.context(&short),
            ));
        }
        Ok(Bytes::from(buf))
    }

    fn context(&self, e: &dyn std::fmt::Display) -> String {
        format!("{}: {e}", self.path.display())
    }
}

/// Reads into `buf` at `pos` until full or EOF; returns bytes read.
pub(crate) fn pread_upto(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
