//! The fuzz harness: bytes as they would arrive on one connection, split into frames as
//! `net::connection` splits them, each decoded and dispatched against a one-node broker in
//! a temporary directory, and the answer encoded. Anything but a panic or an abort is a
//! pass: a bad frame ends the "connection", a bad request is a logged close.
//!
//! Used by the cargo-fuzz target (`fuzz/fuzz_targets/requests.rs`) and by the mutation
//! smoke test below, which the test command runs on stable Rust.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::broker::{self, Broker};
use crate::handlers::{self, Outcome};
use crate::protocol;

/// How long one request may take before the harness moves on (long polls, joins).
const REQUEST_TIME: Duration = Duration::from_millis(2);

/// Frame size limit of the harness: the fuzzer's inputs are small, and a smaller limit
/// keeps one input from asking for large buffers.
const MAX_FRAME: usize = 1 << 20;

/// A broker for the fuzzer, with its own runtime and log directory (removed on drop).
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    broker: Arc<Broker>,
    dir: PathBuf,
}

impl Harness {
    /// A fresh broker in a new directory under the system's temporary directory.
    pub fn new() -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "vltava-fuzz-{}-{}",
            std::process::id(),
            broker::now_ms()
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fuzz runtime");
        // Background work of a real broker is not started; the settings keep group joins
        // and new topics small so that one input cannot hold the harness for long.
        let overrides = [
            "group.initial.rebalance.delay.ms=0".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
        ];
        let broker = runtime
            .block_on(broker::open_standalone(&dir, &overrides))
            .expect("open the fuzz broker");
        Harness {
            runtime,
            broker,
            dir,
        }
    }

    /// Feeds `data` as the bytes of one connection.
    pub fn run(&self, data: &[u8]) {
        let mut rest = data;
        while rest.len() >= 4 {
            let Ok(size) = protocol::frame_size([rest[0], rest[1], rest[2], rest[3]], MAX_FRAME)
            else {
                return;
            };
            let Some(frame) = rest.get(4..4 + size) else {
                return;
            };
            rest = &rest[4 + size..];
            if !self.request(Bytes::copy_from_slice(frame)) {
                return;
            }
        }
    }

    /// One frame; `false` when the connection would be closed.
    fn request(&self, frame: Bytes) -> bool {
        let Ok(request) = protocol::parse_request(frame) else {
            return false;
        };
        let broker = self.broker.clone();
        let outcome = self.runtime.block_on(async move {
            tokio::time::timeout(REQUEST_TIME, handlers::dispatch(&broker, request)).await
        });
        match outcome {
            Ok(Outcome::Respond(frame)) => {
                // Encoded answers are sent whole: reading file-backed parts must work too.
                let _ = frame.to_bytes();
                true
            }
            Ok(Outcome::NoResponse) | Err(_) => true,
            Ok(Outcome::Close(_)) => false,
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deterministic mutations of a seed (bit flips, byte sets, boundary integers written
/// over lengths, truncation, duplication), for the smoke test on stable Rust.
pub fn mutate(seed: &[u8], mut state: u64, out: &mut Vec<u8>) {
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    out.clear();
    out.extend_from_slice(seed);
    if out.is_empty() {
        return;
    }
    let rounds = 1 + next() % 4;
    for _ in 0..rounds {
        let at = (next() as usize) % out.len();
        match next() % 6 {
            0 => out[at] ^= 1 << (next() % 8),
            1 => out[at] = next() as u8,
            2 => {
                const EDGES: [u32; 6] = [0, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 0x7fff, 0xffff];
                let v = EDGES[(next() as usize) % EDGES.len()].to_be_bytes();
                let n = if next() % 2 == 0 { 4 } else { 2 };
                for (i, b) in v[4 - n..].iter().enumerate() {
                    if let Some(x) = out.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => out.truncate(at.max(4)),
            4 => {
                let tail = out[at..].to_vec();
                out.extend_from_slice(&tail);
            }
            _ => out[at] = out[at].wrapping_add(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Harness, mutate};

    /// Every captured request in protocol-fixtures/, mutated: the broker never panics.
    /// (`fuzz/run.sh` runs the coverage-guided fuzzer for the long version.)
    #[test]
    fn mutated_fixture_requests_never_crash_the_broker() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-fixtures");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
        let seeds: Vec<Vec<u8>> = index
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let body = std::fs::read(root.join(e["request_file"].as_str().unwrap())).unwrap();
                let mut framed = (body.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(&body);
                framed
            })
            .collect();
        assert!(seeds.len() > 100);
        let harness = Harness::new();
        let runs: u64 = std::env::var("VLTAVA_FUZZ_SMOKE_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let mut input = Vec::new();
        for i in 0..runs {
            let seed = &seeds[(i as usize) % seeds.len()];
            mutate(seed, i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, &mut input);
            harness.run(&input);
        }
    }
}
