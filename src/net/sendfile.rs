//! Sends a file slice of a response frame: `sendfile(2)` on Linux, so stored batches go
//! from the page cache to the socket without passing through the broker's memory;
//! elsewhere the slice is read and written.

use std::io;

use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;

use crate::format::FileSlice;

/// Writes `slice` after whatever `wr` buffered. A slice whose file shrank meanwhile (a
/// truncated replica) cannot be completed: that is an error, and the connection closes.
#[cfg(target_os = "linux")]
pub(super) async fn send(wr: &mut BufWriter<OwnedWriteHalf>, slice: &FileSlice) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    wr.flush().await?;
    let sock = wr.get_ref().as_ref();
    let file = slice.file().as_raw_fd();
    let mut offset = libc::off_t::try_from(slice.position())
        .map_err(|_| io::Error::other("file position out of range"))?;
    let start = offset;
    let end = offset + slice.len() as libc::off_t;
    while offset < end {
        sock.writable().await?;
        let sent = sock.try_io(Interest::WRITABLE, || {
            let want = (end - offset) as usize;
            // SAFETY: both descriptors are open for the duration of the call (the socket
            // is borrowed, the file is owned by `slice`); `offset` is a valid pointer.
            let n = unsafe { libc::sendfile(sock.as_raw_fd(), file, &mut offset, want) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} ended before the slice sent", slice.path().display()),
                ));
            }
            Ok(_) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            // A file system or socket that cannot sendfile: copy instead, if nothing of
            // the slice was sent yet (otherwise the framing is already committed).
            Err(e)
                if offset == start
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) =>
            {
                log::warn!(
                    "sendfile from {} failed ({e}); copying",
                    slice.path().display()
                );
                return copy(wr, slice).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(super) async fn send(wr: &mut BufWriter<OwnedWriteHalf>, slice: &FileSlice) -> io::Result<()> {
    copy(wr, slice).await
}

/// Reads the slice and writes it (an error if the file no longer holds all of it).
async fn copy(wr: &mut BufWriter<OwnedWriteHalf>, slice: &FileSlice) -> io::Result<()> {
    let bytes = slice.read()?;
    wr.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A slice far larger than the socket buffers, after buffered bytes, arrives whole
    /// and in order; a slice past the end of its file is an error.
    #[tokio::test]
    async fn sends_buffered_bytes_then_the_slice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        let content: Vec<u8> = (0..8_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&content)
            .unwrap();
        let file = Arc::new(std::fs::File::open(&path).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let (_rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut wr = BufWriter::new(wr);
        wr.write_all(b"head").await.unwrap();
        let slice = FileSlice::new(file.clone(), path.clone(), 1000, 7_000_000);
        send(&mut wr, &slice).await.unwrap();
        let past_end = FileSlice::new(file, path, 7_999_990, 100);
        assert!(send(&mut wr, &past_end).await.is_err());
        wr.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[4..7_000_004], &content[1000..7_001_000]);
        assert_eq!(&got[7_000_004..], &content[7_999_990..]);
    }
}
