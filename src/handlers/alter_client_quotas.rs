//! AlterClientQuotas (key 49, v0-v1): each entry's quota changes validated as Kafka's
//! controller validates them and committed together (`Broker::alter_client_quotas`);
//! `validate_only` checks without committing. One result per entry, with its entity as
//! sent.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{AlterQuotaError, Broker, QuotaAlteration};
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<QuotaAlteration> = msg
        .entries
        .iter()
        .map(|e| QuotaAlteration {
            entity: e
                .entity
                .iter()
                .map(|d| {
                    let name = d.entity_name.as_ref().map(|n| n.to_string());
                    (d.entity_type.to_string(), name)
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let results = broker
        .alter_client_quotas(&alterations, msg.validate_only)
        .await;
    let entries = msg
        .entries
        .iter()
        .zip(results)
        .map(|(e, r)| {
            let (code, message) = match r {
                Ok(()) => (0, None),
                Err(e) => {
                    let code = match &e {
                        AlterQuotaError::Invalid(_) => ResponseError::InvalidRequest,
                        AlterQuotaError::Metadata(_) => ResponseError::UnknownServerError,
                    };
                    (code.code(), Some(StrBytes::from_string(e.to_string())))
                }
            };
            let entity = e
                .entity
                .iter()
                .map(|d| {
                    EntityData::default()
                        .with_entity_type(d.entity_type.clone())
                        .with_entity_name(d.entity_name.clone())
                })
                .collect();
            EntryData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(entity)
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
