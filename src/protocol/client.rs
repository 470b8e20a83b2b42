//! A minimal Kafka protocol client for broker-to-broker requests (follower fetches,
//! OffsetForLeaderEpoch; their domain API is `interbroker`): one connection, one request
//! at a time, bounded by timeouts.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Failures of an inter-broker request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("I/O with {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("request to {addr} timed out")]
    Timeout { addr: String },
    #[error("bad response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
}

/// A connection to another broker.
pub struct BrokerClient {
    addr: String,
    stream: TcpStream,
    client_id: String,
    correlation: i32,
    timeout: Duration,
}

impl BrokerClient {
    /// Connects to `addr` (host:port) within `timeout`.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout {
                addr: addr.to_string(),
            })?
            .map_err(|e| ClientError::Connect {
                addr: addr.to_string(),
                source: e,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(BrokerClient {
            addr: addr.to_string(),
            stream,
            client_id: client_id.to_string(),
            correlation: 0,
            timeout,
        })
    }

    /// The address this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A response this client cannot use.
    pub(super) fn protocol_error(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// Sends one request and waits (bounded by `timeout` plus `extra`, e.g. a fetch's
    /// max wait) for its response.
    pub async fn send<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
        extra: Duration,
    ) -> Result<Resp, ClientError> {
        self.correlation = self.correlation.wrapping_add(1);
        let correlation = self.correlation;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let header_version = api_key.request_header_version(version);
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0);
        let addr = self.addr.clone();
        let proto = |reason: String| ClientError::Protocol {
            addr: addr.clone(),
            reason,
        };
        let io = |e| ClientError::Io {
            addr: addr.clone(),
            source: e,
        };
        header
            .encode(&mut buf, header_version)
            .map_err(|e| proto(e.to_string()))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| proto(e.to_string()))?;
        let size = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&size.to_be_bytes());
        let deadline = self.timeout + extra;
        let exchange = async {
            self.stream.write_all(&buf).await.map_err(io)?;
            let len = self.stream.read_i32().await.map_err(io)?;
            if len < 0 {
                return Err(proto(format!("negative frame size {len}")));
            }
            // The buffer grows with the bytes that arrive, not with what the peer declares.
            let mut frame = Vec::with_capacity((len as usize).min(64 * 1024));
            (&mut self.stream)
                .take(len as u64)
                .read_to_end(&mut frame)
                .await
                .map_err(io)?;
            if frame.len() != len as usize {
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(Bytes::from(frame))
        };
        let mut frame: Bytes = tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| ClientError::Timeout { addr: addr.clone() })??;
        let resp_header =
            ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
                .map_err(|e| proto(e.to_string()))?;
        if resp_header.correlation_id != correlation {
            return Err(proto(format!(
                "correlation id {} does not match {correlation}",
                resp_header.correlation_id
            )));
        }
        let resp = Resp::decode(&mut frame, version).map_err(|e| proto(e.to_string()))?;
        if frame.has_remaining() {
            log::debug!(
                "{addr}: {} trailing bytes after a response",
                frame.remaining()
            );
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use tokio::net::TcpListener;

    use super::*;

    /// A peer that reads one request and answers with `answer(correlation id)`, then closes.
    async fn peer(answer: fn(i32) -> Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let len = s.read_i32().await.unwrap();
            let mut req = vec![0; len as usize];
            s.read_exact(&mut req).await.unwrap();
            let correlation = i32::from_be_bytes([req[4], req[5], req[6], req[7]]);
            s.write_all(&answer(correlation)).await.unwrap();
        });
        addr
    }

    async fn api_versions(addr: &str) -> Result<ApiVersionsResponse, ClientError> {
        let mut c = BrokerClient::connect(addr, "t", Duration::from_secs(10))
            .await
            .unwrap();
        let req = ApiVersionsRequest::default();
        c.send(ApiKey::ApiVersions, 0, &req, Duration::ZERO).await
    }

    #[tokio::test]
    async fn a_response_shorter_than_declared_is_an_io_error() {
        // Declares i32::MAX bytes and sends 8: an error, not a 2 GiB allocation.
        let addr = peer(|c| {
            let mut b = i32::MAX.to_be_bytes().to_vec();
            b.extend_from_slice(&c.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]);
            b
        })
        .await;
        match api_versions(&addr).await {
            Err(ClientError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof)
            }
            other => panic!("{other:?}"),
        }

        // A whole response still reads.
        let addr = peer(|c| {
            let mut body = BytesMut::new();
            body.put_i32(c);
            ApiVersionsResponse::default().encode(&mut body, 0).unwrap();
            let mut b = (body.len() as i32).to_be_bytes().to_vec();
            b.extend_from_slice(&body);
            b
        })
        .await;
        assert_eq!(api_versions(&addr).await.unwrap().error_code, 0);
    }
}
