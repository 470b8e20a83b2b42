//! DescribeClientQuotas (key 48, v0-v1): the client quotas in the metadata that match the
//! request's filter (`config::quotas::describe`). A bad filter fails the whole request,
//! INVALID_REQUEST or UNSUPPORTED_VERSION with Kafka's message, and no entries.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::config::quotas::{self, Match, QuotaError};
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let state = broker.metadata.snapshot();
    let filter: Result<Vec<(String, Match)>, QuotaError> = msg
        .components
        .iter()
        .map(|c| {
            let kind = c.entity_type.to_string();
            let m = quotas::filter_component(&kind, c.match_type, c._match.as_deref())?;
            Ok((kind, m))
        })
        .collect();
    let found = filter.and_then(|f| quotas::describe(&state.client_quotas, &f, msg.strict));
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            let (code, message) = match e {
                QuotaError::Invalid(m) => (ResponseError::InvalidRequest, m),
                QuotaError::Unsupported(m) => (ResponseError::UnsupportedVersion, m),
            };
            return DescribeClientQuotasResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_entries(None);
        }
    };
    let entries = found
        .into_iter()
        .map(|q| {
            let entity = q
                .entity
                .iter()
                .map(|(kind, name)| {
                    EntityData::default()
                        .with_entity_type(StrBytes::from_string(kind.clone()))
                        .with_entity_name(name.clone().map(StrBytes::from_string))
                })
                .collect();
            let values = q
                .values
                .iter()
                .map(|(key, v)| {
                    ValueData::default()
                        .with_key(StrBytes::from_string(key.clone()))
                        .with_value(v.0)
                })
                .collect();
            EntryData::default().with_entity(entity).with_values(values)
        })
        .collect();
    DescribeClientQuotasResponse::default()
        .with_error_message(None)
        .with_entries(Some(entries))
}
