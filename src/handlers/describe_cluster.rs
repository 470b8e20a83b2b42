//! DescribeCluster (key 60, v0-v2): the registered brokers (fenced ones too when v2 asks),
//! the cluster id and the controller.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::metadata::{CLUSTER_OPS_ALL, OPS_NOT_REQUESTED};
use crate::broker::Broker;
use crate::protocol::Request;

/// Endpoint types (v1+): 1 = brokers, 2 = controllers.
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_endpoint_type(msg.endpoint_type)
        .with_cluster_id(StrBytes::from_string(
            broker.metadata.cluster_id().to_string(),
        ))
        .with_controller_id(BrokerId(broker.reported_controller_id()))
        .with_cluster_authorized_operations(if msg.include_cluster_authorized_operations {
            CLUSTER_OPS_ALL
        } else {
            OPS_NOT_REQUESTED
        });
    if msg.endpoint_type != ENDPOINT_BROKERS {
        return resp
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            )))
            .with_controller_id(BrokerId(-1));
    }
    // v2 (KIP-1073): fenced brokers too when asked for, marked as such.
    let state = broker.metadata.snapshot();
    resp.with_brokers(
        state
            .brokers
            .values()
            .filter(|b| !b.fenced || msg.include_fenced_brokers)
            .map(|b| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(StrBytes::from_string(b.host.clone()))
                    .with_port(b.port as i32)
                    .with_rack(b.rack.clone().map(StrBytes::from_string))
                    .with_is_fenced(b.fenced)
            })
            .collect(),
    )
}
