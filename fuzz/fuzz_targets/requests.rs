//! Request framing, header and body decoding, and dispatch against a one-node broker
//! (`vltava::fuzz::Harness`): the input is the byte stream of one connection.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vltava::fuzz::Harness;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS.get_or_init(Harness::new).run(data);
});
