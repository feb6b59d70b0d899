//! Reading a PROXY protocol header off an accepted connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::v2::V2_SIGNATURE;
use super::{parse, ProxyError, ProxyHeader, V1_MAX_LEN};

/// The fixed part of a v2 header; also enough to tell the versions apart.
const FIRST_READ: usize = 16;

/// Read and check the PROXY protocol header at the start of `io`.
///
/// Reads no more than the header can need (16 bytes first, then the rest of a
/// v2 header exactly, or up to the 107-byte v1 limit); bytes read past the
/// header are handed back inside the returned [`Prefixed`] stream, which
/// yields them before reading `io` again.
///
/// # Errors
/// [`ProxyError::Timeout`] if the whole header has not arrived within
/// `timeout` (a slow or silent peer), [`ProxyError::UnexpectedEof`] if the
/// peer closed first, and the [`parse`] errors for a malformed header. The
/// caller should close the connection on any error.
pub async fn accept<I: AsyncRead + Unpin>(
    mut io: I,
    timeout: Duration,
) -> Result<(ProxyHeader, Prefixed<I>), ProxyError> {
    match tokio::time::timeout(timeout, read_header(&mut io)).await {
        Ok(Ok((header, rest))) => Ok((header, Prefixed::new(rest, io))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ProxyError::Timeout),
    }
}

async fn read_header<I: AsyncRead + Unpin>(io: &mut I) -> Result<(ProxyHeader, Bytes), ProxyError> {
    let mut buf: Vec<u8> = Vec::with_capacity(V1_MAX_LEN + 1);
    loop {
        let have = buf.len();
        let want = next_read(&buf).saturating_sub(have).max(1);
        buf.resize(have + want, 0);
        let n = io.read(&mut buf[have..]).await?;
        buf.truncate(have + n);
        if n == 0 {
            return Err(ProxyError::UnexpectedEof);
        }
        if let Some((header, consumed)) = parse(&buf)? {
            let rest = Bytes::from(buf).slice(consumed..);
            return Ok((header, rest));
        }
    }
}

/// How many bytes the buffer should hold after the next read.
fn next_read(buf: &[u8]) -> usize {
    if buf.len() < FIRST_READ {
        FIRST_READ
    } else if buf.starts_with(&V2_SIGNATURE) {
        // parse() returned None, so the length is within bounds.
        FIRST_READ + usize::from(u16::from_be_bytes([buf[14], buf[15]]))
    } else {
        V1_MAX_LEN
    }
}

/// A stream that first yields some bytes already read from it (`prefix`),
/// then reads from the inner stream. Writes go straight to the inner stream.
///
/// [`accept`] returns one holding the bytes read past the PROXY header.
#[derive(Debug)]
pub struct Prefixed<I> {
    prefix: Bytes,
    inner: I,
}

impl<I> Prefixed<I> {
    /// A stream yielding `prefix` before `inner`'s bytes.
    pub fn new(prefix: Bytes, inner: I) -> Self {
        Self { prefix, inner }
    }

    /// The bytes not yet read from the prefix.
    #[must_use]
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// The inner stream, mutably (reading it directly skips the prefix).
    pub fn get_mut(&mut self) -> &mut I {
        &mut self.inner
    }

    /// The unread prefix and the inner stream.
    pub fn into_parts(self) -> (Bytes, I) {
        (self.prefix, self.inner)
    }

    /// Take the unread prefix out, leaving it empty.
    pub(crate) fn take_prefix(&mut self) -> Bytes {
        std::mem::take(&mut self.prefix)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.prefix.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.prefix.len().min(buf.remaining());
        buf.put_slice(&self.prefix[..n]);
        self.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
