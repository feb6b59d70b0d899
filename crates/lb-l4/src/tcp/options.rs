//! The options of a TCP listener.

use std::time::Duration;

use crate::proxy_protocol;

/// Options of a TCP listener. Build with `TcpOptions::default()` and set the
/// public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TcpOptions {
    /// How long a connect to a server may take before the next server is
    /// tried. Default 3 s; zero means no limit.
    pub connect_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed.
    /// Default 1 h; zero means never.
    pub idle_timeout: Duration,
    /// Extra connect attempts after a failed one, each to a server not tried
    /// yet for this connection (`retry.attempts`). Default 2.
    pub retry_attempts: u32,
    /// Prepend a PROXY protocol header naming the client and the address it
    /// connected to (`send_proxy_protocol`). Default none.
    pub send_proxy_protocol: Option<proxy_protocol::Version>,
    /// At most this many connections at once (`max_connections`); 0 means
    /// unlimited. Enforced through [`TcpProxy::reserve`](crate::TcpProxy::reserve) and the tower
    /// `Service` readiness, so excess connections wait in the backlog.
    /// Default 0.
    pub max_connections: usize,
    /// Use Linux `splice(2)` when the client is a plain `TcpStream` (or a
    /// [`Prefixed`](crate::proxy_protocol::Prefixed) one): the bytes go
    /// socket → pipe → socket without passing through user space. Ignored on
    /// other systems and other stream types, and skipped for a connection
    /// whose pipes cannot be made (out of file descriptors, or an
    /// unprivileged user past `/proc/sys/fs/pipe-user-pages-soft`). Costs 4
    /// file descriptors per connection. Default true: it moved bulk data
    /// faster than the user-space copy in `docs/benchmarks.md`.
    pub splice: bool,
    /// The capacity asked for each direction's pipe with `splice`; at least
    /// 64 KiB (the kernel default). Pages are only held while data is in
    /// flight. Default 256 KiB.
    pub pipe_size: usize,
    /// Bytes per direction for the user-space copy, allocated per connection.
    /// Default 64 KiB.
    pub buffer_size: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(3600),
            retry_attempts: 2,
            send_proxy_protocol: None,
            max_connections: 0,
            splice: true,
            pipe_size: 256 * 1024,
            buffer_size: 64 * 1024,
        }
    }
}
