//! Waiting for appends: a delayed fetch wakes when any partition it reads from grows,
//! or at its deadline, whichever comes first. Woken by appends, never by polling timers.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::watch;
use tokio::time::Instant;

/// Waits until one of `watches` reports a new log end offset or `deadline` passes.
/// Returns `true` if woken by an append. Closed channels (deleted logs) are skipped.
pub async fn wait_any(watches: &mut [watch::Receiver<i64>], deadline: Instant) -> bool {
    let mut pending: Vec<Pin<Box<dyn Future<Output = bool> + Send + '_>>> = watches
        .iter_mut()
        .map(|rx| -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            Box::pin(async move { rx.changed().await.is_ok() })
        })
        .collect();
    let any = std::future::poll_fn(move |cx| {
        let mut i = 0;
        while i < pending.len() {
            match pending[i].as_mut().poll(cx) {
                Poll::Ready(true) => return Poll::Ready(()),
                // A closed channel never fires again: stop polling it.
                Poll::Ready(false) => {
                    drop(pending.swap_remove(i));
                }
                Poll::Pending => i += 1,
            }
        }
        Poll::Pending
    });
    tokio::time::timeout_at(deadline, any).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_on_change_and_times_out_otherwise() {
        let (tx1, rx1) = watch::channel(0i64);
        let (_tx2, rx2) = watch::channel(0i64);
        let mut rxs = vec![rx1, rx2];
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!wait_any(&mut rxs, deadline).await);
        tx1.send(5).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(wait_any(&mut rxs, deadline).await);
    }

    #[tokio::test]
    async fn closed_channels_do_not_spin() {
        let (tx, rx) = watch::channel(0i64);
        drop(tx);
        let mut rxs = vec![rx];
        let start = Instant::now();
        assert!(!wait_any(&mut rxs, start + Duration::from_millis(30)).await);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
