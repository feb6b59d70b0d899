//! Copying both ways in user space, with backpressure and half-close.
//!
//! One future polls both directions. Each direction has its own buffer and
//! reads only when that buffer has been written out, so a slow reader on one
//! side slows the writer on the other (backpressure) without blocking the
//! opposite direction. End-of-stream on one side is passed on as
//! `shutdown(Write)` on the other, and the other direction keeps flowing.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::activity::Activity;
use crate::stats::ListenerStats;

/// Which side of the proxy an I/O error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// An I/O error on one side.
#[derive(Debug)]
pub(crate) struct CopyError {
    pub(crate) side: Side,
    pub(crate) error: io::Error,
}

/// Bytes moved so far each way; kept by the caller so the counts survive an
/// idle timeout or an error.
#[derive(Debug, Default)]
pub(crate) struct Transferred {
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// Copy `client` ⇄ `server` until both directions reached end-of-stream.
pub(crate) async fn copy_bidirectional<A, B>(
    client: &mut A,
    server: &mut B,
    buf_size: usize,
    moved: &mut Transferred,
    stats: &ListenerStats,
    activity: &Activity,
) -> Result<(), CopyError>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Half::new(buf_size, Side::Client, Side::Server);
    let mut down = Half::new(buf_size, Side::Server, Side::Client);
    poll_fn(|cx| {
        if !up.done {
            let ctx = Counters {
                moved: &mut moved.up,
                live: &stats.bytes_up,
                activity,
            };
            if let Poll::Ready(r) = up.poll(cx, client, server, ctx) {
                r?;
                up.done = true;
            }
        }
        if !down.done {
            let ctx = Counters {
                moved: &mut moved.down,
                live: &stats.bytes_down,
                activity,
            };
            if let Poll::Ready(r) = down.poll(cx, server, client, ctx) {
                r?;
                down.done = true;
            }
        }
        if up.done && down.done {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

struct Counters<'a> {
    moved: &'a mut u64,
    live: &'a AtomicU64,
    activity: &'a Activity,
}

/// One direction: read into `buf`, write it all out, repeat; on EOF flush and
/// shut the writer down.
struct Half {
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    eof: bool,
    need_flush: bool,
    done: bool,
    reader: Side,
    writer: Side,
}

impl Half {
    fn new(size: usize, reader: Side, writer: Side) -> Self {
        Self {
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            cap: 0,
            eof: false,
            need_flush: false,
            done: false,
            reader,
            writer,
        }
    }

    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
        c: Counters<'_>,
    ) -> Poll<Result<(), CopyError>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        let (rs, ws) = (self.reader, self.writer);
        let err = |side| move |error| CopyError { side, error };
        loop {
            if self.pos == self.cap && !self.eof {
                let mut rb = ReadBuf::new(&mut self.buf);
                match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.eof = true;
                        } else {
                            (self.pos, self.cap) = (0, n);
                            c.activity.touch();
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(err(rs)(e))),
                    Poll::Pending => {
                        if self.need_flush {
                            ready!(Pin::new(&mut *w).poll_flush(cx)).map_err(err(ws))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.cap {
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &self.buf[self.pos..self.cap]))
                    .map_err(err(ws))?;
                if n == 0 {
                    return Poll::Ready(Err(err(ws)(io::ErrorKind::WriteZero.into())));
                }
                self.pos += n;
                self.need_flush = true;
                *c.moved += n as u64;
                c.live.fetch_add(n as u64, Relaxed);
                c.activity.touch();
            }
            if self.eof {
                ready!(Pin::new(&mut *w).poll_flush(cx)).map_err(err(ws))?;
                // A peer that is already gone cannot take the FIN; the other
                // direction will notice on its own.
                let _ = ready!(Pin::new(&mut *w).poll_shutdown(cx));
                return Poll::Ready(Ok(()));
            }
        }
    }
}
