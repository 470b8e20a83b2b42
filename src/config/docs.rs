//! One-line documentation of every config DescribeConfigs reports, sent when a client
//! asks for it (`include_documentation`, v3+). Written for vltava: what the setting means
//! to a Kafka user, in the broker's own words.

/// The documentation of a topic or broker config, `None` for a name vltava does not know.
pub fn documentation(name: &str) -> Option<&'static str> {
    Some(match name {
        // Topic configs.
        "cleanup.policy" => {
            "How old log segments are discarded: \"delete\" removes them by retention time and size, \"compact\" keeps the latest record of each key; both may be given."
        }
        "compression.gzip.level" => {
            "Compression level used when compression.type is gzip (-1 for the codec's default)."
        }
        "compression.lz4.level" => {
            "Compression level used when compression.type is lz4 (accepted as Kafka accepts it; vltava's lz4 encoder has one level, lz4's fast mode)."
        }
        "compression.type" => {
            "The codec stored batches use: uncompressed, gzip, snappy, lz4, zstd, or producer to keep the producer's codec."
        }
        "compression.zstd.level" => "Compression level used when compression.type is zstd.",
        "delete.retention.ms" => {
            "How long a tombstone (a record with a null value) stays in a compacted topic, so that consumers reading from the start see the delete."
        }
        "file.delete.delay.ms" => {
            "How long a segment removed from the log waits before its files are deleted."
        }
        "flush.messages" => {
            "The number of records appended to a partition between two forced flushes to disk."
        }
        "flush.ms" => {
            "The longest time an appended record waits before the partition is flushed to disk."
        }
        "follower.replication.throttled.replicas" => {
            "Replicas, as partition:broker pairs or *, whose follower-side replication is throttled."
        }
        "index.interval.bytes" => {
            "How many bytes of log lie between two entries of the offset index."
        }
        "leader.replication.throttled.replicas" => {
            "Replicas, as partition:broker pairs or *, whose leader-side replication is throttled."
        }
        "local.retention.bytes" => {
            "With tiered storage, the size of the local part of a partition before old segments are removed (-2: retention.bytes)."
        }
        "local.retention.ms" => {
            "With tiered storage, how long segments are kept locally (-2: retention.ms)."
        }
        "max.compaction.lag.ms" => "The longest time a record stays ineligible for compaction.",
        "max.message.bytes" => {
            "The largest record batch, after compression, that a partition of this topic accepts."
        }
        "message.timestamp.after.max.ms" => {
            "How far in the future a record's timestamp may be, compared with the broker's clock, before the batch is refused."
        }
        "message.timestamp.before.max.ms" => {
            "How far in the past a record's timestamp may be, compared with the broker's clock, before the batch is refused."
        }
        "message.timestamp.type" => {
            "Whether records keep the producer's timestamp (CreateTime) or get the broker's clock when appended (LogAppendTime)."
        }
        "min.cleanable.dirty.ratio" => {
            "The share of a compacted log not yet cleaned above which the log is compacted."
        }
        "min.compaction.lag.ms" => {
            "The shortest time a record stays uncompacted after it is written."
        }
        "min.insync.replicas" => {
            "With acks=all, the number of in-sync replicas that must hold a write for it to be acknowledged; with fewer, produce fails with NOT_ENOUGH_REPLICAS."
        }
        "preallocate" => "Whether segment files are allocated at full size when created.",
        "remote.log.copy.disable" => {
            "With tiered storage, stops copying segments to remote storage while keeping the remote ones readable."
        }
        "remote.log.delete.on.disable" => {
            "With tiered storage, whether remote segments are deleted when remote storage is turned off for the topic."
        }
        "remote.storage.enable" => "Whether the topic uses tiered storage.",
        "retention.bytes" => {
            "The largest size a partition may grow to before its oldest segments are deleted (-1: no limit)."
        }
        "retention.ms" => {
            "How long a segment is kept after its newest record before it is deleted (-1: no limit)."
        }
        "segment.bytes" => "The size at which a partition's active segment is rolled.",
        "segment.index.bytes" => "The size of the offset and time index files of a segment.",
        "segment.jitter.ms" => {
            "A random amount subtracted from segment.ms so that partitions do not all roll at once."
        }
        "segment.ms" => "The age at which the active segment is rolled even if it is not full.",
        "unclean.leader.election.enable" => {
            "Whether a replica outside the ISR may become leader when no in-sync replica is left, at the risk of losing acknowledged records."
        }
        // Broker configs.
        "advertised.listeners" => {
            "The listeners published to clients in Metadata, when they differ from listeners."
        }
        "auto.create.topics.enable" => {
            "Whether a Metadata request naming an unknown topic creates it with the default partitions and replication factor."
        }
        "broker.id" => "The broker's id; the same as node.id.",
        "default.replication.factor" => "The replication factor of topics created without one.",
        "delete.topic.enable" => "Whether topics can be deleted.",
        "listeners" => {
            "The addresses the broker listens on, as NAME://host:port, separated by commas."
        }
        "log.cleaner.backoff.ms" => "How long a cleaner thread waits when no log needs cleaning.",
        "log.cleaner.dedupe.buffer.size" => {
            "Memory for the cleaner's offset maps (key hash to latest offset), shared by the cleaner threads."
        }
        "log.cleaner.delete.retention.ms" => "The default of the topic config delete.retention.ms.",
        "log.cleaner.enable" => "Whether the log cleaner runs (compacted topics need it).",
        "log.cleaner.io.buffer.load.factor" => {
            "How full the offset map may get, as a fraction of its size."
        }
        "log.cleaner.io.buffer.size" => "The cleaner's read and write buffer size.",
        "log.cleaner.io.max.bytes.per.second" => {
            "The cleaner's I/O limit: reads and writes together, in bytes per second."
        }
        "log.cleaner.max.compaction.lag.ms" => {
            "The default of the topic config max.compaction.lag.ms."
        }
        "log.cleaner.min.cleanable.ratio" => {
            "The default of the topic config min.cleanable.dirty.ratio."
        }
        "log.cleaner.min.compaction.lag.ms" => {
            "The default of the topic config min.compaction.lag.ms."
        }
        "log.cleaner.threads" => "The number of log cleaner threads.",
        "log.cleanup.policy" => "The default of the topic config cleanup.policy.",
        "log.dir" => "The directory of the broker's data, used when log.dirs is not set.",
        "log.dirs" => "The directories of the broker's data, separated by commas.",
        "log.flush.interval.messages" => "The default of the topic config flush.messages.",
        "log.flush.interval.ms" => "The default of the topic config flush.ms.",
        "log.flush.scheduler.interval.ms" => {
            "How often the broker checks whether a partition must be flushed."
        }
        "log.index.interval.bytes" => "The default of the topic config index.interval.bytes.",
        "log.message.timestamp.type" => "The default of the topic config message.timestamp.type.",
        "log.retention.bytes" => "The default of the topic config retention.bytes.",
        "log.retention.check.interval.ms" => {
            "How often the broker looks for segments that retention removes."
        }
        "log.retention.hours" => {
            "The default retention time, in hours, used unless log.retention.minutes or log.retention.ms is set."
        }
        "log.retention.minutes" => {
            "The default retention time, in minutes, used unless log.retention.ms is set."
        }
        "log.retention.ms" => "The default of the topic config retention.ms.",
        "log.roll.hours" => {
            "The default segment age before a roll, in hours, used unless log.roll.ms is set."
        }
        "log.roll.ms" => "The default of the topic config segment.ms.",
        "log.segment.bytes" => "The default of the topic config segment.bytes.",
        "log.segment.delete.delay.ms" => "The default of the topic config file.delete.delay.ms.",
        "message.max.bytes" => "The default of the topic config max.message.bytes.",
        "node.id" => "The node's id in the cluster and in the controller quorum.",
        "num.partitions" => "The number of partitions of topics created without one.",
        "socket.request.max.bytes" => {
            "The largest request frame the broker reads; a larger one closes the connection."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::documentation;
    use crate::config::topic::TOPIC_CONFIGS;

    #[test]
    fn every_topic_config_is_documented() {
        for d in TOPIC_CONFIGS {
            assert!(documentation(d.name).is_some(), "{}", d.name);
        }
        assert_eq!(documentation("no.such.config"), None);
    }
}
