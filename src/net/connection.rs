//! One client connection: framing, pipelining and in-order processing.
//!
//! As in Kafka, the requests of one connection are handled one after the other, in the
//! order they arrived (a producer's pipelined batches are appended in order), while the
//! writer half sends earlier responses and the socket buffers later requests. The queue
//! between reader and writer is bounded (backpressure). A response with a throttle time
//! (a client over its quota) is sent at once and the connection then reads nothing for
//! that long, for every request version (Kafka delays the response itself for clients
//! older than KIP-219; muting after it limits them the same).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout_at};

use super::{Admission, Admitted};
use crate::broker::Broker;
use crate::handlers::{self, Outcome};
use crate::protocol::frame::{Frame, Part};
use crate::protocol::{self, FrameError};

/// Responses produced but not yet written, per connection.
const MAX_IN_FLIGHT: usize = 64;

type Pending = Outcome;

/// Serves one connection until the client closes it, a bad frame arrives, or shutdown.
/// `admitted` is the connection's place under the broker's connection limits, held until
/// it ends.
pub(super) async fn run(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    mut shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let mut writer = tokio::spawn(write_responses(wr, rx, peer));
    tokio::select! {
        r = read_requests(&broker, rd, tx, peer, admitted.admission()) => {
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

/// Reads frames and handles them in order. Every frame must arrive whole within
/// `connections.max.idle.ms` of the previous answer (an idle connection, or one that
/// trickles a request in, is closed), and its bytes count against
/// `queued.max.request.bytes` until it is answered.
async fn read_requests(
    broker: &Arc<Broker>,
    mut rd: OwnedReadHalf,
    tx: mpsc::Sender<Pending>,
    peer: SocketAddr,
    admission: &Admission,
) -> Result<(), FrameError> {
    let max = broker.config.socket_request_max_bytes;
    let idle = admission.max_idle();
    // One buffer per connection, filled straight from the socket without zeroing; each
    // frame is split off as `Bytes`, and the space is reclaimed once frames are dropped.
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    loop {
        let deadline = Instant::now() + idle;
        let within = |filled: Result<Result<bool, FrameError>, _>| {
            filled.map_err(|_| FrameError::Idle(idle.as_millis() as u64))?
        };
        if !within(timeout_at(deadline, fill(&mut rd, &mut buf, 4)).await)? {
            if buf.is_empty() {
                return Ok(());
            }
            return Err(FrameError::Truncated { expected: 4 });
        }
        let size = protocol::frame_size([buf[0], buf[1], buf[2], buf[3]], max)?;
        let held = admission.request_bytes(4 + size).await;
        if !within(timeout_at(deadline, fill(&mut rd, &mut buf, 4 + size)).await)? {
            return Err(FrameError::Truncated { expected: size });
        }
        buf.advance(4);
        let frame = buf.split_to(size).freeze();
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
        let (outcome, throttle_ms) = handlers::dispatch_throttled(broker, request).await;
        drop(held);
        if tx.send(outcome).await.is_err() {
            return Ok(());
        }
        // A client over its quota: the response is on its way with the throttle time, and
        // nothing more is read from it until that has passed (Kafka mutes the channel).
        if throttle_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(throttle_ms as u64)).await;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::{BufMut, Bytes};
    use tokio::net::TcpListener;

    use super::*;

    /// Every Info-or-above log line of the test process (the lib tests share one logger).
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                LINES.lock().unwrap().push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;

    /// Issue 14's request: Metadata v4 declaring a billion topics, 50 bytes with the prefix.
    fn billion_topics() -> Bytes {
        let mut f = BytesMut::new();
        f.put_i16(3);
        f.put_i16(4);
        f.put_i32(7);
        f.put_i16(1);
        f.put_u8(b't');
        f.put_u32(1_000_000_000);
        f.put_bytes(0, 31);
        f.freeze()
    }

    async fn send(c: &mut TcpStream, frame: &[u8]) {
        c.write_all(&(frame.len() as i32).to_be_bytes())
            .await
            .unwrap();
        c.write_all(frame).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undecodable_request_closes_the_connection_with_a_log_line() {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Info);
        let dir = tempfile::tempdir().unwrap();
        let broker = crate::broker::open_for_test(dir.path()).await;

        let request = protocol::parse_request(billion_topics()).unwrap();
        match handlers::dispatch(&broker, request).await {
            Outcome::Close(reason) => assert!(
                reason.starts_with("malformed Metadata v4 request")
                    && reason.contains("Tried to allocate a collection of size 1000000000"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop_tx, stop_rx) = watch::channel(false);
        let accept = {
            let broker = broker.clone();
            let admission = crate::net::Admission::new(Default::default());
            tokio::spawn(async move {
                loop {
                    let slot = admission.slot().await;
                    let (stream, peer) = listener.accept().await.unwrap();
                    let admitted = admission.admit(peer.ip(), slot).unwrap();
                    tokio::spawn(run(broker.clone(), stream, peer, admitted, stop_rx.clone()));
                }
            })
        };

        let mut c = TcpStream::connect(addr).await.unwrap();
        let local = c.local_addr().unwrap();
        send(&mut c, &billion_topics()).await;
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut rest))
            .await
            .expect("the broker closes the connection")
            .unwrap();
        assert!(rest.is_empty(), "no response to a malformed request");
        let want = format!("closing connection from {local}: malformed Metadata v4 request");
        assert!(
            LINES
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with(&want) && l.contains("Tried to allocate")),
            "no log line starting with {want:?}"
        );

        // The broker still serves: ApiVersions v0 on a new connection.
        let mut c = TcpStream::connect(addr).await.unwrap();
        send(&mut c, &[0, 18, 0, 0, 0, 0, 0, 9, 0, 1, b't']).await;
        let answer = async {
            let len = c.read_i32().await.unwrap();
            let mut body = vec![0; len as usize];
            c.read_exact(&mut body).await.unwrap();
            body
        };
        let body = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("an ApiVersions answer");
        assert_eq!(body[..4], 9i32.to_be_bytes(), "correlation id");
        assert_eq!(body[4..6], 0i16.to_be_bytes(), "error code");
        accept.abort();
    }
}
