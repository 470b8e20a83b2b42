//! The Kafka protocol edge: request headers and bodies over the `kafka-protocol` crate,
//! response encoding, Kafka error-code selection and produce-batch validation.
//!
//! Only this module and `handlers/` know Kafka message structs. It never touches storage
//! files or sockets: a response frame may name file slices (`frame`), which the
//! connection sends.

pub mod client;
pub mod frame;
pub mod interbroker;
pub mod validate;

#[cfg(test)]
mod decode_tests;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// A frame that cannot be served; the connection is closed with a log line.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request size {size} is larger than socket.request.max.bytes ({max}) or negative")]
    TooLarge { size: i64, max: usize },
    #[error("connection closed in the middle of a {expected}-byte request")]
    Truncated { expected: usize },
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("no complete request within {0} ms (connections.max.idle.ms)")]
    Idle(u64),
    #[error("cannot decode the request header of {api_key:?} v{version}: {reason}")]
    BadHeader {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// A request whose header has been decoded; the body is still raw.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub header: RequestHeader,
    pub body: Bytes,
    /// The client's address as Kafka reports it (`/127.0.0.1`), set by the connection.
    pub client_host: String,
}

/// The size of a request frame from its 4-byte prefix: refused when negative or above
/// `socket.request.max.bytes` (`max`), as Kafka closes such a connection.
pub fn frame_size(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > max {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max,
        });
    }
    Ok(size as usize)
}

/// Decodes the request header of one frame (without its size prefix).
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
    let header_version = if version < 0 {
        1
    } else {
        api_key.request_header_version(version)
    };
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| FrameError::BadHeader {
            api_key,
            version,
            reason: e.to_string(),
        })?;
    Ok(Request {
        api_key,
        version,
        correlation_id,
        header,
        body: frame,
        client_host: String::new(),
    })
}

/// A request body the codec could not decode.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode request body: {0}")]
pub struct DecodeError(pub String);

/// Decodes a request body. Trailing bytes are ignored, as Apache Kafka does: librdkafka's
/// "all topics" Metadata v9+ request carries three of them (see protocol-fixtures).
pub fn decode_body<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, DecodeError> {
    let msg = T::decode(body, version).map_err(|e| DecodeError(e.to_string()))?;
    if body.has_remaining() {
        log::debug!(
            "ignoring {} trailing bytes after a request body",
            body.remaining()
        );
    }
    Ok(msg)
}

/// Encodes a response with the header version its API and version call for.
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, String> {
    let size = frame::response_size(api_key, version, correlation_id, body)?;
    let mut buf = BytesMut::with_capacity(size);
    frame::encode_into(&mut buf, api_key, version, correlation_id, body)?;
    Ok(buf.freeze())
}
