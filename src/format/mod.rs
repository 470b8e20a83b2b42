//! Kafka's record-batch format (v2), the one format shared by the wire and the disk:
//! `batch` (the 61-byte header, CRC-32C, offset and epoch rewrites, walking batches),
//! `records` (record iteration with decompression, for the few paths that look inside),
//! `builder` (building batches: the coordinator's records), `rebuild` (writing kept
//! records again: the log cleaner), `file_slice` (stored batches
//! located in a segment file, sent as they are).
//!
//! Below both `protocol` and `storage`: imports neither, nor any other vltava module.

pub mod batch;
pub mod builder;
pub(crate) mod file_slice;
pub mod rebuild;
pub mod records;
#[cfg(test)]
pub(crate) mod testutil;

pub use batch::{BatchError, BatchHeader};
pub use file_slice::FileSlice;
