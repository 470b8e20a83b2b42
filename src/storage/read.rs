//! Reads from a partition log: fetch (whole stored batches, located as a file slice and
//! read or sent as they are) and ListOffsets lookups by timestamp.
//!
//! Owns: locating the batch holding an offset (sparse index + header scan) and cutting
//! reads at whole batches, `max_bytes`, `min_one` (KIP-74) and `max_offset`.
//! Must never: re-encode batches, read record bytes to find a cut (the offset index
//! skips to near the cut, only headers after it are read), or do file I/O while holding
//! the partition mutex (segment snapshots are taken under the lock, reads happen after
//! releasing it).

use bytes::Bytes;

use super::FileSlice;
use super::error::StorageError;
use super::partition::PartitionLog;
use super::segment::SegmentView;
use crate::format::batch::BatchHeader;
use crate::format::records::RecordIter;

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

    /// Fetch read into memory; see the module docs for the cut rules.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes, StorageError> {
        match self.read_slice(offset, max_bytes, min_one, max_offset)? {
            Some((slice, _)) => Ok(slice.read()?),
            None => Ok(Bytes::new()),
        }
    }

    /// Fetch read without reading: the whole batches from the one holding `offset`, in
    /// its segment, within `max_bytes` (or the first batch alone when `min_one`) and
    /// below `max_offset`, and whether more batches below `max_offset` follow them (the
    /// slice was cut by `max_bytes` or by the end of its segment: Kafka's delayed fetch
    /// answers at once then). `None` when there is nothing to return.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Option<(FileSlice, bool)>, StorageError> {
        self.health.check()?;
        self.health
            .note(self.read_slice_unnoted(offset, max_bytes, min_one, max_offset))
    }

    fn read_slice_unnoted(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Option<(FileSlice, bool)>, StorageError> {
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
            return Ok(None);
        }
        let mut cursor = self.locate(offset, None);
        while let Some((view, pos)) = cursor {
            if let Some((pos, first)) = view.find_batch(pos, offset)? {
                return Ok(self.slice_from(view, pos, &first, max_bytes, min_one, max_offset));
            }
            cursor = self.locate(offset, Some(view.base));
        }
        Ok(None)
    }

    /// Cuts the slice that starts with batch `first` at `pos`; also says whether more
    /// batches below `max_offset` follow it.
    fn slice_from(
        &self,
        view: SegmentView,
        pos: u64,
        first: &BatchHeader,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Option<(FileSlice, bool)> {
        if first.last_offset() >= max_offset {
            return None;
        }
        let first_size = first.total_size() as u64;
        let limit = pos.saturating_add(max_bytes as u64);
        let (end, more) = if first_size > max_bytes as u64 {
            if !min_one {
                return None;
            }
            (pos + first_size, first.next_offset() < max_offset)
        } else {
            // Everything before the hint is whole batches within both limits; only the
            // headers from there on are read.
            // (and where this segment's offsets end, with the log's)
            let (hint, segment_end, log_end) = {
                let inner = self.lock();
                let seg = inner
                    .segments
                    .get(&view.base)
                    .filter(|s| s.is_file(&view.file));
                (
                    seg.map_or(0, |s| s.boundary_before(limit, max_offset)),
                    seg.map_or(inner.next_offset, |s| s.next_offset),
                    inner.next_offset,
                )
            };
            let mut end = hint.max(pos).min(view.size);
            // A header that cannot be read ends the slice; the next fetch reports it.
            let more = loop {
                match view.header_at(end) {
                    Ok(Some(h)) if h.last_offset() >= max_offset => break false,
                    Ok(Some(h)) if end + h.total_size() as u64 > limit => break true,
                    Ok(Some(h)) => end += h.total_size() as u64,
                    // the segment's end: later segments hold more below `max_offset`
                    Ok(None) => break segment_end < max_offset && segment_end < log_end,
                    Err(_) => break false,
                }
            };
            (end, more)
        };
        (end > pos).then(|| (view.slice(pos, (end - pos) as usize), more))
    }

    /// First record with timestamp >= `ts` at or after the log start: `(offset, timestamp)`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.health.check()?;
        self.health.note(self.offset_for_timestamp_unnoted(ts))
    }

    fn offset_for_timestamp_unnoted(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
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
        self.health.check()?;
        self.health.note(self.max_timestamp_offset_unnoted())
    }

    fn max_timestamp_offset_unnoted(&self) -> Result<Option<(i64, i64)>, StorageError> {
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

/// Decodes the batch at `pos` and returns the first record matching `pred`.
fn first_record(
    view: &SegmentView,
    pos: u64,
    h: &BatchHeader,
    pred: impl Fn(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, StorageError> {
    let bytes = view.slice(pos, h.total_size()).read()?;
    for rec in RecordIter::new(&bytes)? {
        let (offset, ts) = rec?;
        if pred(offset, ts) {
            return Ok(Some((offset, ts)));
        }
    }
    Ok(None)
}
