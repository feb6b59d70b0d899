//! Linux `splice(2)`: socket → pipe → socket without copying through user
//! space, driven by tokio readiness. Safe, through rustix's wrapper.
//!
//! Each direction owns a pipe. It fills the pipe from the source socket only
//! when the pipe is empty, then drains it into the destination socket, so the
//! pipe is the direction's buffer and backpressure works as in the user-space
//! copy. End-of-stream is passed on as `shutdown(Write)`.

use std::any::Any;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rustix::pipe::{
    fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags,
};
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::copy::{CopyError, Side, Transferred};
use crate::activity::Activity;
use crate::proxy_protocol::Prefixed;
use crate::stats::ListenerStats;

/// A pipe of `size` bytes of capacity.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
}

impl Pipe {
    /// Fails if the kernel will not give the pipe `size` bytes (or at least
    /// the 64 KiB default): past `/proc/sys/fs/pipe-user-pages-soft`, an
    /// unprivileged user's new pipes shrink to a page or two, and splicing a
    /// page at a time loses to the user-space copy.
    fn new(size: usize) -> io::Result<Self> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let size = match fcntl_setpipe_size(&write, size) {
            Ok(n) => n,
            Err(_) => fcntl_getpipe_size(&write)?,
        };
        if size < MIN_PIPE {
            return Err(io::Error::other(
                "pipe capacity limited (pipe-user-pages-soft)",
            ));
        }
        Ok(Self { read, write, size })
    }
}

/// Below this capacity a pipe is not worth splicing through.
const MIN_PIPE: usize = 64 * 1024;

/// A client stream the splice path can take.
pub(crate) enum SpliceClient<'a> {
    Plain(&'a TcpStream),
    /// Its unread prefix (bytes read past a PROXY header) is written first.
    Prefixed(&'a mut Prefixed<TcpStream>),
}

impl<'a> SpliceClient<'a> {
    /// The client if it is a `TcpStream` or a `Prefixed<TcpStream>`.
    pub(crate) fn from_any(io: &'a mut dyn Any) -> Option<Self> {
        if io.is::<TcpStream>() {
            return io.downcast_ref::<TcpStream>().map(SpliceClient::Plain);
        }
        io.downcast_mut::<Prefixed<TcpStream>>()
            .map(SpliceClient::Prefixed)
    }
}

/// The two pipes of a connection, one per direction.
pub(crate) struct Pipes {
    up: Pipe,
    down: Pipe,
}

impl Pipes {
    /// Two pipes of `size` bytes (at least 64 KiB). Fails, and the caller
    /// copies in user space, if they cannot be made at that size or at all
    /// (out of file descriptors).
    pub(crate) fn new(size: usize) -> io::Result<Self> {
        let size = size.max(MIN_PIPE);
        Ok(Self {
            up: Pipe::new(size)?,
            down: Pipe::new(size)?,
        })
    }

    /// Copy `client` ⇄ `server` with `splice(2)` until both reached
    /// end-of-stream.
    pub(crate) async fn run(
        self,
        client: SpliceClient<'_>,
        server: &TcpStream,
        moved: &mut Transferred,
        stats: &ListenerStats,
        activity: &Activity,
    ) -> Result<(), CopyError> {
        let client: &TcpStream = match client {
            SpliceClient::Plain(s) => s,
            SpliceClient::Prefixed(p) => {
                let prefix = p.take_prefix();
                if !prefix.is_empty() {
                    write_all(server, &prefix)
                        .await
                        .map_err(|error| CopyError {
                            side: Side::Server,
                            error,
                        })?;
                    moved.up += prefix.len() as u64;
                    stats.bytes_up.fetch_add(prefix.len() as u64, Relaxed);
                    activity.touch();
                }
                p.get_ref()
            }
        };
        let up = Direction {
            src: client,
            dst: server,
            sides: (Side::Client, Side::Server),
            pipe: self.up,
            stats_live: &stats.bytes_up,
            activity,
        };
        let down = Direction {
            src: server,
            dst: client,
            sides: (Side::Server, Side::Client),
            pipe: self.down,
            stats_live: &stats.bytes_down,
            activity,
        };
        tokio::try_join!(up.run(&mut moved.up), down.run(&mut moved.down))?;
        Ok(())
    }
}

/// `write_all` through a shared reference.
async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

struct Direction<'a> {
    src: &'a TcpStream,
    dst: &'a TcpStream,
    sides: (Side, Side),
    pipe: Pipe,
    stats_live: &'a AtomicU64,
    activity: &'a Activity,
}

impl Direction<'_> {
    async fn run(self, moved: &mut u64) -> Result<(), CopyError> {
        let (rs, ws) = self.sides;
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        loop {
            // Fill the (empty) pipe from the source.
            let n = loop {
                self.src
                    .readable()
                    .await
                    .map_err(|error| CopyError { side: rs, error })?;
                let r = self.src.try_io(Interest::READABLE, || {
                    Ok(splice(
                        self.src,
                        None,
                        &self.pipe.write,
                        None,
                        self.pipe.size,
                        flags,
                    )?)
                });
                match r {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => return Err(CopyError { side: rs, error }),
                }
            };
            if n == 0 {
                // A peer that is already gone cannot take the FIN; the
                // other direction will notice on its own.
                let _ = socket2::SockRef::from(self.dst).shutdown(Shutdown::Write);
                return Ok(());
            }
            self.activity.touch();
            // Drain it into the destination.
            let mut left = n;
            while left > 0 {
                self.dst
                    .writable()
                    .await
                    .map_err(|error| CopyError { side: ws, error })?;
                let r = self.dst.try_io(Interest::WRITABLE, || {
                    Ok(splice(&self.pipe.read, None, self.dst, None, left, flags)?)
                });
                match r {
                    Ok(0) => {
                        let error = io::ErrorKind::WriteZero.into();
                        return Err(CopyError { side: ws, error });
                    }
                    Ok(w) => {
                        left -= w;
                        *moved += w as u64;
                        self.stats_live.fetch_add(w as u64, Relaxed);
                        self.activity.touch();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => return Err(CopyError { side: ws, error }),
                }
            }
        }
    }
}
