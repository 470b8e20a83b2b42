//! DescribeUserScramCredentials (key 51, v0): vltava has no SASL, so no SCRAM credential
//! exists and none can be created (AlterUserScramCredentials is not served). The answer is
//! Kafka's for a cluster without credentials: nothing when all users are asked for, and
//! RESOURCE_NOT_FOUND (or DUPLICATE_RESOURCE for a name asked twice) per named user.
//! `kafka-configs.sh --describe --entity-type users` asks for it beside the quotas.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    _broker: &Broker,
    _req: &Request,
    msg: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let users = msg.users.unwrap_or_default();
    let repeated = super::repeated_names(users.iter().map(|u| u.name.as_str()));
    let mut answered = std::collections::HashSet::new();
    let results = users
        .iter()
        .filter(|u| answered.insert(u.name.as_str()))
        .map(|u| {
            let name = u.name.as_str();
            let (code, message) = if repeated.contains(name) {
                (
                    ResponseError::DuplicateResource,
                    format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                    ),
                )
            } else {
                (
                    ResponseError::ResourceNotFound,
                    format!("Attempt to describe a user credential that does not exist: {name}"),
                )
            };
            DescribeUserScramCredentialsResult::default()
                .with_user(u.name.clone())
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(message)))
        })
        .collect();
    DescribeUserScramCredentialsResponse::default()
        .with_error_message(None)
        .with_results(results)
}
