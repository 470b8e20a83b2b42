//! Reads from a partition log: fetch (stored bytes, whole batches) and ListOffsets
//! lookups by timestamp.
//!
//! Owns: locating the batch holding an offset (sparse index + header scan) and cutting
//! reads at whole batches, `max_bytes`, `min_one` (KIP-74) and `max_offset`.
//! Must never: re-encode batches, or do file I/O while holding the partition mutex
//! (segment snapshots are taken under the lock, reads happen after releasing it).

use bytes::Bytes;

use super::batch::{BatchHeader, LOG_OVERHEAD};
use super::error::StorageError;
use super::partition::PartitionLog;
use super::records::RecordIter;
use super::segment::SegmentView;

/// Cuts `chunk` (read at a batch boundary) after the last whole batch that ends below
/// `max_offset`.
fn whole_batches(chunk: &[u8], max_offset: i64) -> usize {
    let mut end = 0;
    while let Ok(h) = BatchHeader::parse(&chunk[end..]) {
        let size = h.total_size();
        if size < LOG_OVERHEAD || end + size > chunk.len() || h.last_offset() >= max_offset {
            break;
        }
        end += size;
    }
    end
}

impl PartitionLog {
    /// Snapshot of the segment holding `offset` (or the first one after `after`), with
    /// the position to start scanning from.
    fn locate(&self, offset: i64, after: Option<i64>) -> Option<(SegmentView, u64)> {
        let inner = self.lock();
        let seg = match after {
            None => inner
                .segments
                .range(..=offset)
                .next_back()
                .map(|(_, s)| s)
                .or_else(|| inner.segments.values().next()),
            Some(base) => inner.segments.range(base + 1..).next().map(|(_, s)| s),
        }?;
        let pos = if after.is_none() {
            seg.index_position(offset)
        } else {
            0
        };
        Some((seg.view(), pos))
    }

    /// Fetch read; see the module docs for the cut rules.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes, StorageError> {
        let (start, end) = {
            let inner = self.lock();
            (inner.log_start, inner.next_offset)
        };
        if offset < start || offset > end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset == end || offset >= max_offset {
            return Ok(Bytes::new());
        }
        let mut cursor = self.locate(offset, None);
        while let Some((view, pos)) = cursor {
            if let Some((pos, first)) = view.find_batch(pos, offset)? {
                return read_from(&view, pos, &first, max_bytes, min_one, max_offset);
            }
            cursor = self.locate(offset, Some(view.base));
        }
        Ok(Bytes::new())
    }

    /// First record with timestamp >= `ts` at or after the log start: `(offset, timestamp)`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let (log_start, candidates) = {
            let inner = self.lock();
            let segs: Vec<(SegmentView, u64)> = inner
                .segments
                .values()
                .filter(|s| s.state.max_timestamp >= ts && s.next_offset > inner.log_start)
                .map(|s| (s.view(), s.time_position(ts, inner.log_start)))
                .collect();
            (inner.log_start, segs)
        };
        for (view, mut pos) in candidates {
            while let Some(h) = view.header_at(pos)? {
                if h.max_timestamp >= ts && h.last_offset() >= log_start {
                    let found = first_record(&view, pos, &h, |o, t| t >= ts && o >= log_start)?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                pos += h.total_size() as u64;
            }
        }
        Ok(None)
    }

    /// Record with the largest timestamp (the first such): `(offset, timestamp)`.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let found = {
            let inner = self.lock();
            let mut best: Option<&super::segment::Segment> = None;
            for s in inner
                .segments
                .values()
                .filter(|s| s.size > 0 && s.next_offset > inner.log_start)
            {
                if best.is_none_or(|b| s.state.max_timestamp > b.state.max_timestamp) {
                    best = Some(s);
                }
            }
            best.map(|s| {
                (
                    s.view(),
                    s.time_position(s.state.max_timestamp, inner.log_start),
                    s.state.max_timestamp,
                )
            })
        };
        let Some((view, mut pos, max_ts)) = found else {
            return Ok(None);
        };
        while let Some(h) = view.header_at(pos)? {
            if h.max_timestamp == max_ts {
                let exact = first_record(&view, pos, &h, |_, t| t == max_ts)?;
                return Ok(Some(exact.unwrap_or((h.last_offset(), max_ts))));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }
}

fn read_from(
    view: &SegmentView,
    pos: u64,
    first: &BatchHeader,
    max_bytes: usize,
    min_one: bool,
    max_offset: i64,
) -> Result<Bytes, StorageError> {
    if first.last_offset() >= max_offset {
        return Ok(Bytes::new());
    }
    let first_size = first.total_size();
    if first_size > max_bytes {
        if !min_one {
            return Ok(Bytes::new());
        }
        return Ok(Bytes::from(view.read_bytes(pos, first_size)?));
    }
    let mut chunk = view.read_bytes(pos, max_bytes)?;
    let end = whole_batches(&chunk, max_offset);
    chunk.truncate(end);
    Ok(Bytes::from(chunk))
}

/// Decodes the batch at `pos` and returns the first record matching `pred`.
fn first_record(
    view: &SegmentView,
    pos: u64,
    h: &BatchHeader,
    pred: impl Fn(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, StorageError> {
    let bytes = view.read_bytes(pos, h.total_size())?;
    for rec in RecordIter::new(&bytes)? {
        let (offset, ts) = rec?;
        if pred(offset, ts) {
            return Ok(Some((offset, ts)));
        }
    }
    Ok(None)
}
