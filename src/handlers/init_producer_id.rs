//! InitProducerId (key 22): producer ids for idempotent producers.
//!
//! Transactional ids need a transaction coordinator; until there is one, such requests
//! are refused with COORDINATOR_NOT_AVAILABLE, which is also what FindCoordinator-less
//! clients would meet on a Kafka cluster without a `__transaction_state` topic.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if msg.transactional_id.is_some() {
        return resp.with_error_code(ResponseError::CoordinatorNotAvailable.code());
    }
    // An idempotent producer that asks to bump its epoch (v3+, after an error) simply
    // gets a fresh producer id, which Kafka also does when it cannot bump.
    match broker.metadata.allocate_producer_id().await {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            log::error!("cannot allocate a producer id: {e}");
            resp.with_error_code(ResponseError::UnknownServerError.code())
        }
    }
}
