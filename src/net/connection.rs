//! One client connection: framing, pipelining and in-order responses.
//!
//! The reader half decodes frames and spawns one task per request; the writer half awaits
//! those tasks strictly in arrival order, so responses leave in request order even when
//! handlers finish out of order. The queue between them is bounded (backpressure).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::handlers::{self, Outcome};
use crate::protocol::{self, FrameError};

/// Requests read but not yet answered, per connection.
const MAX_IN_FLIGHT: usize = 64;

type Pending = JoinHandle<Outcome>;

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

async fn read_requests(
    broker: &Arc<Broker>,
    rd: OwnedReadHalf,
    tx: mpsc::Sender<Pending>,
    peer: SocketAddr,
) -> Result<(), FrameError> {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = broker.config.socket_request_max_bytes;
    loop {
        let size = match rd.read_i32().await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(FrameError::Io(e)),
        };
        if size < 0 || size as usize > max {
            return Err(FrameError::TooLarge {
                size: size as i64,
                max,
            });
        }
        let mut buf = BytesMut::zeroed(size as usize);
        rd.read_exact(&mut buf).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                FrameError::Truncated {
                    expected: size as usize,
                }
            } else {
                FrameError::Io(e)
            }
        })?;
        let frame = buf.freeze();
        let mut request = protocol::parse_request(frame)?;
        request.client_host = format!("/{}", peer.ip());
        log::trace!(
            "{peer}: {:?} v{} correlation {}",
            request.api_key,
            request.version,
            request.correlation_id
        );
        let broker = broker.clone();
        let task = tokio::spawn(async move { handlers::dispatch(&broker, request).await });
        if tx.send(task).await.is_err() {
            return Ok(());
        }
    }
}

async fn write_responses(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>, peer: SocketAddr) {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(task) = rx.recv().await {
        let outcome = match task.await {
            Ok(o) => o,
            Err(e) => {
                log::error!("{peer}: request handler failed: {e}");
                break;
            }
        };
        match outcome {
            Outcome::Respond(frame) => {
                if write_frame(&mut wr, &frame).await.is_err() {
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

async fn write_frame(wr: &mut BufWriter<OwnedWriteHalf>, frame: &Bytes) -> std::io::Result<()> {
    wr.write_i32(frame.len() as i32).await?;
    wr.write_all(frame).await
}
