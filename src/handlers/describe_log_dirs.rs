//! DescribeLogDirs (key 35): the broker's log dir with the size and lag of every replica
//! in it (or of the partitions asked for), and (v4) its filesystem's total and usable
//! bytes, as `kafka-log-dirs.sh` and AdminClient `describeLogDirs` read them. An offline
//! dir answers KAFKA_STORAGE_ERROR with no replicas.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let logs = &broker.logs;
    let dir = std::path::absolute(logs.dir()).unwrap_or_else(|_| logs.dir().to_path_buf());
    let base = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()));
    let (total, usable) = logs
        .disk_space()
        .map_or((-1, -1), |(t, u)| (t as i64, u as i64));
    let result = if logs.health().is_offline() {
        base.with_error_code(ResponseError::KafkaStorageError.code())
    } else {
        let wanted = |topic: &str, partition: i32| match &msg.topics {
            None => true,
            Some(ts) => ts
                .iter()
                .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&partition)),
        };
        let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        for log in logs.all() {
            let tp = log.topic_partition();
            if !wanted(&tp.topic, tp.partition) {
                continue;
            }
            // Kafka's lag of a current (not future) replica: how far its log end is behind
            // the high watermark.
            let lag = (log.high_watermark() - log.log_end_offset()).max(0);
            topics.entry(tp.topic.clone()).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_partition_size(log.size_bytes() as i64)
                    .with_offset_lag(lag)
                    .with_is_future_key(false),
            );
        }
        base.with_topics(
            topics
                .into_iter()
                .map(|(name, mut partitions)| {
                    partitions.sort_by_key(|p| p.partition_index);
                    DescribeLogDirsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
    }
    .with_total_bytes(total)
    .with_usable_bytes(usable);
    DescribeLogDirsResponse::default().with_results(vec![result])
}
