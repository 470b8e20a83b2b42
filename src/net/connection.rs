//! One client connection: framing, pipelining and in-order processing.
//!
//! As in Kafka, the requests of one connection are handled one after the other, in the
//! order they arrived (a producer's pipelined batches are appended in order), while the
//! writer half sends earlier responses and the socket buffers later requests. The queue
//! between reader and writer is bounded (backpressure).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::handlers::{self, Outcome};
use crate::protocol::frame::{Frame, Part};
use crate::protocol::{self, FrameError};

/// Responses produced but not yet written, per connection.
const MAX_IN_FLIGHT: usize = 64;

type Pending = Outcome;

/// Serves one connection until the client closes it, a bad frame arrives, or shutdown.
pub(super) async fn run(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let mut writer = tokio::spawn(write_responses(wr, rx, peer));
    tokio::select! {
        r = read_requests(&broker, rd, tx, peer) => {
            if let Err(e) = r {
                log::info!("closing connection from {peer}: {e}");
            }
        }
        // The writer stopped (a request asked to close, or the peer went away).
        _ = &mut writer => return,
        _ = shutdown.changed() => {}
    }
    // The reader has dropped its sender: the writer finishes the queued responses and ends.
    let _ = writer.await;
}

/// Initial size of a connection's read buffer; it grows to the largest frame seen.
const READ_BUFFER: usize = 64 * 1024;

async fn read_requests(
    broker: &Arc<Broker>,
    mut rd: OwnedReadHalf,
    tx: mpsc::Sender<Pending>,
    peer: SocketAddr,
) -> Result<(), FrameError> {
    let max = broker.config.socket_request_max_bytes;
    // One buffer per connection, filled straight from the socket without zeroing; each
    // frame is split off as `Bytes`, and the space is reclaimed once frames are dropped.
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    loop {
        if !fill(&mut rd, &mut buf, 4).await? {
            if buf.is_empty() {
                return Ok(());
            }
            return Err(FrameError::Truncated { expected: 4 });
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if size < 0 || size as usize > max {
            return Err(FrameError::TooLarge {
                size: size as i64,
                max,
            });
        }
        let total = 4 + size as usize;
        if !fill(&mut rd, &mut buf, total).await? {
            return Err(FrameError::Truncated {
                expected: size as usize,
            });
        }
        buf.advance(4);
        let frame = buf.split_to(size as usize).freeze();
        if buf.capacity() < READ_BUFFER {
            buf.reserve(READ_BUFFER);
        }
        let mut request = protocol::parse_request(frame)?;
        request.client_host = format!("/{}", peer.ip());
        log::trace!(
            "{peer}: {:?} v{} correlation {}",
            request.api_key,
            request.version,
            request.correlation_id
        );
        let outcome = handlers::dispatch(broker, request).await;
        if tx.send(outcome).await.is_err() {
            return Ok(());
        }
    }
}

/// Reads until `buf` holds at least `want` bytes; `false` if the peer closed first.
async fn fill(rd: &mut OwnedReadHalf, buf: &mut BytesMut, want: usize) -> Result<bool, FrameError> {
    if buf.len() < want {
        buf.reserve(want - buf.len());
    }
    while buf.len() < want {
        if rd.read_buf(buf).await? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn write_responses(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>, peer: SocketAddr) {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(outcome) = rx.recv().await {
        match outcome {
            Outcome::Respond(frame) => {
                if let Err(e) = write_frame(&mut wr, &frame).await {
                    log::info!("closing connection from {peer}: cannot send a response: {e}");
                    break;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                log::info!("closing connection from {peer}: {reason}");
                break;
            }
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            break;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

async fn write_frame(wr: &mut BufWriter<OwnedWriteHalf>, frame: &Frame) -> std::io::Result<()> {
    wr.write_i32(frame.len() as i32).await?;
    for part in frame.parts() {
        match part {
            Part::Bytes(b) => wr.write_all(b).await?,
            Part::File(slice) => super::sendfile::send(wr, slice).await?,
        }
    }
    Ok(())
}
