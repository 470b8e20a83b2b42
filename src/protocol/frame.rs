//! Response frames whose record bytes can stay in segment files until they are sent.
//!
//! A handler that answers with stored batches (Fetch) registers each [`FileSlice`] with
//! [`FileParts::add`] and puts the returned placeholder in the message's `records`
//! field. A placeholder is a `Bytes` of the slice's length that points into one shared
//! zeroed region which is allocated lazily and never written or read, the `k`-th slice
//! at offset `k` of it. The `kafka-protocol` encoder writes a bytes field with one
//! `put_slice` call, so [`FrameBuf`] recognises a placeholder by its address and records
//! the file slice as a part of the frame instead of copying. The connection then sends
//! file parts with `sendfile` (`net::sendfile`).

use std::ops::Range;
use std::sync::OnceLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::format::FileSlice;

/// Longest slice sent from its file; longer ones are read into memory by the caller.
const MAX_FILE_PART: usize = 64 << 20;
/// Most file slices in one response.
const MAX_FILE_PARTS: usize = 1 << 16;

/// The placeholder region: calloc'd and never touched, so it costs no resident memory.
fn placeholders() -> &'static Bytes {
    static ZEROS: OnceLock<Bytes> = OnceLock::new();
    ZEROS.get_or_init(|| Bytes::from(vec![0u8; MAX_FILE_PART + MAX_FILE_PARTS]))
}

/// One piece of a response frame.
#[derive(Debug)]
pub enum Part {
    Bytes(Bytes),
    File(FileSlice),
}

/// A response (header and body, without the size prefix) as bytes and file slices.
#[derive(Debug)]
pub struct Frame {
    parts: Vec<Part>,
    len: usize,
}

impl Frame {
    /// Total length of the parts, i.e. the value of the size prefix.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The whole frame in memory, file parts read (tests and the fuzz harness).
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        if let [Part::Bytes(b)] = self.parts.as_slice() {
            return Ok(b.clone());
        }
        let mut out = BytesMut::with_capacity(self.len);
        for part in &self.parts {
            match part {
                Part::Bytes(b) => out.extend_from_slice(b),
                Part::File(f) => out.extend_from_slice(&f.read()?),
            }
        }
        Ok(out.freeze())
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Self {
        Frame {
            len: b.len(),
            parts: vec![Part::Bytes(b)],
        }
    }
}

/// The file slices of one response, in the order they were added.
#[derive(Debug, Default)]
pub struct FileParts {
    slices: Vec<FileSlice>,
}

impl FileParts {
    /// Registers `slice` and returns the placeholder to encode in its place, or gives
    /// the slice back when it cannot be one (empty, too long, too many): the caller then
    /// reads it into memory.
    pub fn add(&mut self, slice: FileSlice) -> Result<Bytes, FileSlice> {
        let k = self.slices.len();
        if slice.is_empty() || slice.len() > MAX_FILE_PART || k >= MAX_FILE_PARTS {
            return Err(slice);
        }
        let placeholder = placeholders().slice(k..k + slice.len());
        self.slices.push(slice);
        Ok(placeholder)
    }

    fn total_len(&self) -> usize {
        self.slices.iter().map(FileSlice::len).sum()
    }
}

/// The encoder's buffer: bytes, except that a placeholder becomes a file part.
struct FrameBuf {
    cur: BytesMut,
    parts: Vec<Part>,
    /// Length of everything in `parts`.
    done: usize,
    files: Vec<Option<FileSlice>>,
    /// What went wrong, if anything (a `BufMut` cannot return errors).
    error: Option<String>,
    scratch: Vec<u8>,
}

impl FrameBuf {
    fn new(capacity: usize, files: FileParts) -> Self {
        FrameBuf {
            cur: BytesMut::with_capacity(capacity),
            parts: Vec::new(),
            done: 0,
            files: files.slices.into_iter().map(Some).collect(),
            error: None,
            scratch: Vec::new(),
        }
    }

    /// The registered slice that `src` is the placeholder of.
    fn file_for(&mut self, src: &[u8]) -> Option<FileSlice> {
        let base = placeholders().as_ptr() as usize;
        let at = (src.as_ptr() as usize).checked_sub(base)?;
        if src.is_empty() || at >= MAX_FILE_PARTS {
            return None;
        }
        match self.files.get_mut(at).and_then(Option::take) {
            Some(f) if f.len() == src.len() => Some(f),
            _ => {
                self.error = Some(format!("placeholder {at} does not match a file slice"));
                None
            }
        }
    }

    fn finish(mut self) -> Result<Frame, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        // Each placeholder must have been encoded exactly once, whole: anything else
        // means a placeholder was sliced or dropped, and bytes would go astray.
        if let Some(k) = self.files.iter().position(Option::is_some) {
            return Err(format!("file slice {k} was not encoded"));
        }
        if !self.cur.is_empty() || self.parts.is_empty() {
            self.done += self.cur.len();
            self.parts.push(Part::Bytes(self.cur.freeze()));
        }
        Ok(Frame {
            parts: self.parts,
            len: self.done,
        })
    }
}

// SAFETY: every method delegates to the inner `BytesMut`, which upholds `BufMut`'s
// contract; `put_slice` only decides whether bytes go there at all.
unsafe impl BufMut for FrameBuf {
    fn remaining_mut(&self) -> usize {
        self.cur.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.cur.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.cur.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        match self.file_for(src) {
            Some(file) => {
                if !self.cur.is_empty() {
                    self.done += self.cur.len();
                    self.parts.push(Part::Bytes(self.cur.split().freeze()));
                }
                self.done += file.len();
                self.parts.push(Part::File(file));
            }
            None => self.cur.extend_from_slice(src),
        }
    }
}

// Message encoders only append; the gap methods (record-batch encoding) may only reach
// back into the bytes after the last file part.
impl ByteBufMut for FrameBuf {
    fn offset(&self) -> usize {
        self.done + self.cur.len()
    }

    fn seek(&mut self, offset: usize) {
        match offset.checked_sub(self.done) {
            Some(at) => self.cur.resize(at, 0),
            None => self.error = Some("seek before a file part".into()),
        }
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        if r.start >= self.done && r.end <= self.offset() {
            return &mut self.cur[r.start - self.done..r.end - self.done];
        }
        self.error = Some("range before a file part".into());
        self.scratch = vec![0; r.len()];
        &mut self.scratch
    }
}

/// The response header for `api_key`/`version`, with its header version.
fn header(api_key: ApiKey, version: i16, correlation_id: i32) -> (ResponseHeader, i16) {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    (header, api_key.response_header_version(version))
}

/// Encoded size of the response header and `body` (placeholders count in full).
pub(super) fn response_size<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<usize, String> {
    let (header, header_version) = header(api_key, version, correlation_id);
    header
        .compute_size(header_version)
        .and_then(|h| body.compute_size(version).map(|b| h + b))
        .map_err(|e| e.to_string())
}

/// Encodes the response header then `body` into `buf`.
pub(super) fn encode_into<B: ByteBufMut, T: Encodable>(
    buf: &mut B,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<(), String> {
    let (header, header_version) = header(api_key, version, correlation_id);
    header
        .encode(buf, header_version)
        .map_err(|e| e.to_string())?;
    body.encode(buf, version).map_err(|e| e.to_string())
}

/// Encodes a response whose bytes fields may hold placeholders from `files`.
pub fn encode_response_frame<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
    files: FileParts,
) -> Result<Frame, String> {
    let size = response_size(api_key, version, correlation_id, body)?;
    let in_memory = size.saturating_sub(files.total_len());
    let mut buf = FrameBuf::new(in_memory, files);
    encode_into(&mut buf, api_key, version, correlation_id, body)?;
    let frame = buf.finish()?;
    if frame.len() != size {
        return Err(format!(
            "encoded {} bytes where {size} were computed",
            frame.len()
        ));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    use super::*;
    use crate::protocol::encode_response;

    fn response(records: Vec<Bytes>) -> FetchResponse {
        let partitions = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_records(Some(r))
            })
            .collect();
        FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(partitions),
        ])
    }

    #[test]
    fn file_parts_encode_to_the_same_bytes_as_inline_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&content)
            .unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        let slice =
            |pos: usize, len: usize| FileSlice::new(file.clone(), path.clone(), pos as u64, len);
        for version in [4, 11, 12, 16] {
            let mut files = FileParts::default();
            let a = files.add(slice(10, 50_000)).unwrap();
            let c = files.add(slice(60_000, 40_000)).unwrap();
            let inline = Bytes::from_static(b"inline");
            let with_files = response(vec![a, inline.clone(), c, Bytes::new()]);
            let frame =
                encode_response_frame(ApiKey::Fetch, version, 7, &with_files, files).unwrap();
            let kinds: Vec<bool> = frame
                .parts()
                .iter()
                .map(|p| matches!(p, Part::File(_)))
                .collect();
            assert_eq!(kinds, [false, true, false, true, false], "v{version}");
            let plain = response(vec![
                Bytes::copy_from_slice(&content[10..50_010]),
                inline,
                Bytes::copy_from_slice(&content[60_000..100_000]),
                Bytes::new(),
            ]);
            let expected = encode_response(ApiKey::Fetch, version, 7, &plain).unwrap();
            assert_eq!(frame.len(), expected.len());
            assert_eq!(frame.to_bytes().unwrap(), expected, "v{version}");
        }
    }

    #[test]
    fn a_placeholder_sliced_or_left_out_fails_the_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        let slice = || FileSlice::new(file.clone(), path.clone(), 0, 100);
        let mut files = FileParts::default();
        let a = files.add(slice()).unwrap();
        let _b = files.add(slice()).unwrap();
        let left_out = response(vec![a.clone()]);
        assert!(encode_response_frame(ApiKey::Fetch, 12, 1, &left_out, files).is_err());
        let mut files = FileParts::default();
        let a = files.add(slice()).unwrap();
        let sliced = response(vec![a.slice(1..)]);
        assert!(encode_response_frame(ApiKey::Fetch, 12, 1, &sliced, files).is_err());
    }

    #[test]
    fn slices_that_cannot_be_placeholders_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let file = Arc::new(std::fs::File::create(&path).unwrap());
        let mut files = FileParts::default();
        assert!(
            files
                .add(FileSlice::new(file.clone(), path.clone(), 0, 0))
                .is_err()
        );
        let huge = FileSlice::new(file, path, 0, MAX_FILE_PART + 1);
        assert!(files.add(huge).is_err());
    }
}
