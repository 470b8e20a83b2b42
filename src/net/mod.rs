//! The network edge: listeners, one task per connection, Kafka's length-prefixed framing.
//!
//! Owns sockets and the per-connection request pipeline (read, dispatch concurrently,
//! write responses in request order). It never interprets request bodies: that is
//! `protocol/` and `handlers/`.

mod connection;
mod limits;
mod sendfile;
mod server;

pub use limits::{Admission, Admitted};
pub use server::{BoundListener, bind, serve};
