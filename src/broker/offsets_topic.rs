//! The `__consumer_offsets` topic: created on first use (as Kafka creates it on the first
//! FindCoordinator), written by the group coordinator, and replayed partition by partition
//! when this broker becomes the leader of that partition (and so its groups' coordinator).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{Broker, NewTopic, TopicError, now_ms};
use crate::coordinator::{GroupCoordinator, OFFSETS_TOPIC, OffsetsLog};
use crate::storage::records::RecordIter;
use crate::storage::{LogManager, TopicPartition, batch, builder};

/// Appends coordinator records to the partitions of `__consumer_offsets`.
pub(super) struct OffsetsTopicLog {
    pub logs: Arc<LogManager>,
}

impl OffsetsLog for OffsetsTopicLog {
    fn append(
        &self,
        partition: i32,
        records: &[(Bytes, Option<Bytes>)],
        now: i64,
    ) -> Result<(), String> {
        let log = self
            .logs
            .get(&TopicPartition {
                topic: OFFSETS_TOPIC.to_string(),
                partition,
            })
            .ok_or_else(|| format!("{OFFSETS_TOPIC}-{partition} does not exist"))?;
        let recs: Vec<builder::KeyValue<'_>> = records
            .iter()
            .map(|(k, v)| (Some(&k[..]), v.as_deref()))
            .collect();
        log.append(&builder::build_batch(&recs, now), now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Broker {
    /// Creates `__consumer_offsets` if it does not exist yet.
    pub async fn ensure_offsets_topic(&self) -> Result<(), TopicError> {
        if self.metadata.get(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), Some("compact".to_string()));
        configs.insert("compression.type".to_string(), Some("producer".to_string()));
        configs.insert(
            "segment.bytes".to_string(),
            Some(self.config.offsets_topic_segment_bytes.to_string()),
        );
        let live = self.live_brokers().len().max(1) as i16;
        let t = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: self.config.group.offsets_partitions,
            replication_factor: self.config.offsets_topic_replication_factor.min(live),
            assignments: Vec::new(),
            configs,
        };
        match self.create_topic(&t, false).await {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Loads the groups of offsets partitions this broker now leads; unloads the others.
pub(super) fn follow_leadership(broker: &Broker) {
    let Some(meta) = broker.metadata.get(OFFSETS_TOPIC) else {
        return;
    };
    let loaded = broker.groups.loaded_partitions();
    for (p, info) in meta.assignments.iter().enumerate() {
        let p = p as i32;
        let leads = info.leader == broker.node_id();
        if leads && !loaded.contains(&p) {
            broker.groups.unload_partition(p);
            replay(&broker.logs, &broker.groups, p);
            broker.groups.mark_loaded(p);
        } else if !leads && loaded.contains(&p) {
            log::info!("no longer the coordinator of {OFFSETS_TOPIC}-{p}");
            broker.groups.unload_partition(p);
        }
    }
}

/// Rebuilds the groups and offsets of one partition of `__consumer_offsets`.
fn replay(logs: &LogManager, coordinator: &GroupCoordinator, p: i32) {
    let now = now_ms();
    let mut records = 0usize;
    let Some(log) = logs.get(&TopicPartition {
        topic: OFFSETS_TOPIC.to_string(),
        partition: p,
    }) else {
        return;
    };
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let chunk = match log.read(offset, 1 << 20, true, end) {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => break,
            Err(e) => {
                log::error!("cannot replay {OFFSETS_TOPIC}-{p} at {offset}: {e}");
                break;
            }
        };
        let Ok(walk) = batch::walk_headers(&chunk) else {
            log::error!("corrupt batch in {OFFSETS_TOPIC}-{p} at {offset}");
            break;
        };
        for (pos, header) in walk {
            offset = header.next_offset();
            let bytes = &chunk[pos..pos + header.total_size()];
            let Ok(mut it) = RecordIter::new(bytes) else {
                continue;
            };
            while let Some(r) = it.next_keyed() {
                match r {
                    Ok(rec) => {
                        let Some(key) = rec.key else { continue };
                        records += 1;
                        if let Err(e) = coordinator.replay(key, rec.value, now) {
                            log::warn!("skipping record in {OFFSETS_TOPIC}-{p}: {e}");
                        }
                    }
                    Err(e) => {
                        log::warn!("skipping batch in {OFFSETS_TOPIC}-{p}: {e}");
                        break;
                    }
                }
            }
        }
    }
    if records > 0 {
        log::info!("loaded {records} group and offset records from {OFFSETS_TOPIC}-{p}");
    }
}
