//! OffsetFetch (key 9): committed offsets of one group (v0–v7) or several (v8+).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::groups::coordinator_ready;
use crate::broker::Broker;
use crate::coordinator::GroupError;
use crate::coordinator::records::OffsetValue;
use crate::protocol::Request;

/// (topic, partition, committed offset if any)
type Row = (String, i32, Option<OffsetValue>);
type Fetched = Result<Vec<Row>, GroupError>;
/// A topic with its partitions' committed offsets.
type TopicRows = (String, Vec<(i32, Option<OffsetValue>)>);

fn fetch(broker: &Broker, group: &str, partitions: Option<Vec<(String, i32)>>) -> Fetched {
    coordinator_ready(broker, group)?;
    broker.groups.fetch_offsets(group, partitions.as_deref())
}

/// Groups (topic, partition, value) rows by topic, keeping first-seen order.
fn by_topic(rows: Vec<Row>) -> Vec<TopicRows> {
    let mut out: Vec<TopicRows> = Vec::new();
    for (t, p, v) in rows {
        match out.iter_mut().find(|(name, _)| *name == t) {
            Some((_, ps)) => ps.push((p, v)),
            None => out.push((t, vec![(p, v)])),
        }
    }
    out
}

fn offset_fields(v: &Option<OffsetValue>) -> (i64, i32, String) {
    match v {
        Some(v) => (v.offset, v.leader_epoch, v.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = req.version;
    if v >= 8 {
        let groups = msg
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .flat_map(|t| {
                            t.partition_indexes
                                .iter()
                                .map(|p| (t.name.0.as_str().to_string(), *p))
                        })
                        .collect()
                });
                let resp = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch(broker, g.group_id.0.as_str(), wanted) {
                    Err(e) => resp.with_error_code(errors::group_error(&e).code()),
                    Ok(rows) => resp.with_topics(
                        by_topic(rows)
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(StrBytes::from_string(t)))
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|(p, val)| {
                                                let (o, e, m) = offset_fields(&val);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o)
                                                    .with_committed_leader_epoch(e)
                                                    .with_metadata(Some(StrBytes::from_string(m)))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = msg.topics.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(|p| (t.name.0.as_str().to_string(), *p))
            })
            .collect::<Vec<_>>()
    });
    match fetch(broker, msg.group_id.0.as_str(), wanted.clone()) {
        Err(e) => {
            let code = errors::group_error(&e).code();
            // Before v2 there is no top-level error: every partition carries it.
            let rows = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(t, p)| (t, p, None))
                .collect();
            let resp = OffsetFetchResponse::default().with_topics(v1_topics(rows, v, code));
            if v >= 2 {
                resp.with_error_code(code)
            } else {
                resp
            }
        }
        Ok(rows) => OffsetFetchResponse::default().with_topics(v1_topics(rows, v, 0)),
    }
}

fn v1_topics(rows: Vec<Row>, v: i16, code: i16) -> Vec<OffsetFetchResponseTopic> {
    by_topic(rows)
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(t)))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, val)| {
                            let (o, e, m) = offset_fields(&val);
                            let part = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o)
                                .with_metadata(Some(StrBytes::from_string(m)))
                                .with_error_code(code);
                            if v >= 5 {
                                part.with_committed_leader_epoch(e)
                            } else {
                                part
                            }
                        })
                        .collect(),
                )
        })
        .collect()
}
