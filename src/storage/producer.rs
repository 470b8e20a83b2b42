//! Idempotent-producer state per partition (a simplified Kafka `ProducerStateManager`).
//!
//! Owns: producer id -> (epoch, last 5 batches' sequence/offset ranges); duplicate,
//! sequence and epoch checks; rebuilding from batch headers at load time.
//! Must never: touch files or decode records (headers carry everything needed).

use std::collections::{HashMap, VecDeque};

use super::error::StorageError;
use crate::format::batch::{BatchHeader, increment_sequence};

/// Batches remembered per producer for duplicate detection (Kafka keeps 5).
const MAX_BATCHES: usize = 5;

/// Sequence/offset range of one appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Clone, Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// Producer states of one partition.
#[derive(Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

fn tracked(h: &BatchHeader) -> bool {
    h.producer_id >= 0 && !h.is_control()
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

/// Checks one batch against a producer entry. `Ok(Some(meta))` means duplicate.
fn check(
    entry: Option<&ProducerEntry>,
    h: &BatchHeader,
) -> Result<Option<BatchMeta>, StorageError> {
    let Some(e) = entry else {
        return Ok(None); // unknown producer (new, or its batches were deleted): any sequence
    };
    let pid = h.producer_id;
    if h.producer_epoch < e.epoch {
        return Err(StorageError::InvalidProducerEpoch {
            producer_id: pid,
            epoch: h.producer_epoch,
            current: e.epoch,
        });
    }
    if h.producer_epoch == e.epoch {
        let last_seq = h.last_sequence();
        if let Some(dup) = e
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Some(*dup));
        }
        let last = e.batches.back().map_or(-1, |b| b.last_seq);
        if e.epoch >= 0 && !in_sequence(last, h.base_sequence) {
            let expected = increment_sequence(last.max(-1), 1).max(0);
            return Err(StorageError::OutOfOrderSequence {
                producer_id: pid,
                expected,
                received: h.base_sequence,
            });
        }
    } else if h.base_sequence != 0 && e.epoch >= 0 {
        return Err(StorageError::OutOfOrderSequence {
            producer_id: pid,
            expected: 0,
            received: h.base_sequence,
        });
    }
    Ok(None)
}

impl ProducerState {
    /// Validates the producer fields of the batches of one append (in order).
    /// Returns `Ok(Some(meta))` if a batch is a duplicate of an already appended one
    /// (the whole append must then be skipped and `meta` reported).
    pub fn validate(&self, headers: &[BatchHeader]) -> Result<Option<BatchMeta>, StorageError> {
        let mut staged: HashMap<i64, ProducerEntry> = HashMap::new();
        for h in headers.iter().filter(|h| tracked(h)) {
            let entry = staged
                .get(&h.producer_id)
                .or_else(|| self.producers.get(&h.producer_id));
            if let Some(dup) = check(entry, h)? {
                return Ok(Some(dup));
            }
            let mut next = entry.cloned().unwrap_or(ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
            });
            apply_to(&mut next, h, -1);
            staged.insert(h.producer_id, next);
        }
        Ok(None)
    }

    /// Records an appended batch (offsets assigned); also used to rebuild at load.
    pub fn apply(&mut self, h: &BatchHeader, timestamp: i64) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
            });
        apply_to(entry, h, timestamp);
    }

    /// The last offset of each producer's latest batch (the batch the cleaner must keep,
    /// even emptied, so the producer's sequence survives compaction).
    pub fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.producers.len()
    }
}

fn apply_to(entry: &mut ProducerEntry, h: &BatchHeader, timestamp: i64) {
    if h.producer_epoch != entry.epoch {
        entry.epoch = h.producer_epoch;
        entry.batches.clear();
    }
    if h.is_control() || h.base_sequence < 0 {
        return;
    }
    entry.batches.push_back(BatchMeta {
        first_seq: h.base_sequence,
        last_seq: h.last_sequence(),
        first_offset: h.base_offset,
        last_offset: h.last_offset(),
        timestamp,
    });
    while entry.batches.len() > MAX_BATCHES {
        entry.batches.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn sequences_epochs_duplicates() {
        let mut s = ProducerState::default();
        assert!(s.validate(&[hdr(1, 0, 7, 3, 0)]).unwrap().is_none()); // unknown: any seq
        s.apply(&hdr(1, 0, 7, 3, 0), 5);
        let dup = s.validate(&[hdr(1, 0, 7, 3, 99)]).unwrap().unwrap();
        assert_eq!((dup.first_offset, dup.last_offset), (0, 2));
        assert!(matches!(
            s.validate(&[hdr(1, 0, 11, 1, 0)]),
            Err(StorageError::OutOfOrderSequence {
                expected: 10,
                received: 11,
                ..
            })
        ));
        assert!(
            s.validate(&[hdr(1, 0, 10, 1, 0), hdr(1, 0, 11, 1, 0)])
                .unwrap()
                .is_none()
        );
        assert!(
            s.validate(&[hdr(1, 0, 10, 1, 0), hdr(1, 0, 12, 1, 0)])
                .is_err()
        );
        // epoch bump requires seq 0
        assert!(matches!(
            s.validate(&[hdr(1, 1, 5, 1, 0)]),
            Err(StorageError::OutOfOrderSequence { .. })
        ));
        assert!(s.validate(&[hdr(1, 1, 0, 1, 0)]).unwrap().is_none());
        s.apply(&hdr(1, 1, 0, 1, 3), 5);
        assert!(matches!(
            s.validate(&[hdr(1, 0, 10, 1, 0)]),
            Err(StorageError::InvalidProducerEpoch { .. })
        ));
        // wrap-around
        s.apply(&hdr(2, 0, i32::MAX - 1, 2, 10), 0);
        assert!(s.validate(&[hdr(2, 0, 0, 1, 0)]).unwrap().is_none());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn only_last_five_batches_are_duplicates() {
        let mut s = ProducerState::default();
        for i in 0..7 {
            s.apply(&hdr(1, 0, i, 1, i64::from(i)), 0);
        }
        assert!(s.validate(&[hdr(1, 0, 2, 1, 0)]).unwrap().is_some());
        assert!(s.validate(&[hdr(1, 0, 1, 1, 0)]).is_err());
    }
}
