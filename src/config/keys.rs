//! Which broker config keys vltava honours, which it accepts and ignores, and which are unknown.

/// How a broker config key is treated.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// The key changes vltava's behaviour.
    Honoured,
    /// A real Kafka key that has no effect here (JVM, ZooKeeper, threading, or not yet used).
    Ignored,
    /// Not a key Kafka knows.
    Unknown,
}

const HONOURED: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "controller.listener.names",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "delete.topic.enable",
    "message.max.bytes",
    "socket.request.max.bytes",
    "quota.window.num",
    "quota.window.size.seconds",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "connections.max.idle.ms",
    "queued.max.request.bytes",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "log.index.interval.bytes",
    "log.message.timestamp.type",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.flush.scheduler.interval.ms",
    "log.segment.delete.delay.ms",
    "log.cleanup.policy",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "offsets.topic.num.partitions",
    "offsets.retention.minutes",
    "offsets.retention.check.interval.ms",
    "offsets.topic.segment.bytes",
    "offset.metadata.max.bytes",
    "offsets.commit.timeout.ms",
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "broker.session.timeout.ms",
    "broker.heartbeat.interval.ms",
    "replica.lag.time.max.ms",
    "offsets.topic.replication.factor",
    "auto.leader.rebalance.enable",
    "leader.imbalance.check.interval.seconds",
    "min.insync.replicas",
    "unclean.leader.election.enable",
];

/// Real Kafka keys that only matter to a JVM, to ZooKeeper, to Kafka's own threading,
/// or to features vltava does not have yet.
const IGNORED_PREFIXES: &[&str] = &[
    "zookeeper.",
    "num.",
    "socket.send.",
    "socket.receive.",
    "socket.listen.",
    "queued.max.",
    "background.threads",
    "process.roles",
    "controller.",
    "inter.broker.",
    "offsets.",
    "transaction.",
    "share.",
    "group.",
    "log.cleaner.",
    "log.preallocate",
    "log.roll.jitter.",
    "log.index.size.max.bytes",
    "log.local.retention.",
    "log.message.timestamp.",
    "replica.",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "auto.leader.rebalance.enable",
    "leader.imbalance.",
    "metadata.",
    "metric.",
    "metrics.",
    "kafka.metrics.",
    "confluent.",
    "sasl.",
    "ssl.",
    "security.",
    "authorizer.",
    "super.users",
    "connections.max.",
    "max.connections",
    "request.timeout.ms",
    "quota.",
    "client.quota.",
    "delegation.token.",
    "remote.log.",
    "broker.rack",
    "broker.heartbeat.",
    "broker.session.",
    "initial.broker.registration.",
    "fetch.",
    "producer.",
    "reserved.broker.max.id",
    "create.topic.policy.",
    "alter.config.policy.",
    "node.id.",
    "eligible.leader.replicas.",
];

pub(super) fn classify(key: &str) -> KeyKind {
    if HONOURED.contains(&key) {
        // `log.message.timestamp.type` is honoured even though its prefix is listed below.
        return KeyKind::Honoured;
    }
    if IGNORED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return KeyKind::Ignored;
    }
    KeyKind::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify("log.dirs"), KeyKind::Honoured);
        assert_eq!(classify("log.message.timestamp.type"), KeyKind::Honoured);
        assert_eq!(classify("zookeeper.connect"), KeyKind::Ignored);
        assert_eq!(classify("num.io.threads"), KeyKind::Ignored);
        assert_eq!(
            classify("offsets.topic.replication.factor"),
            KeyKind::Honoured
        );
        assert_eq!(classify("offsets.commit.timeout.ms"), KeyKind::Honoured);
        assert_eq!(classify("bogus.key"), KeyKind::Unknown);
    }
}
