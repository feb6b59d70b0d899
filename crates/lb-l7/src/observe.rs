//! The hook metrics and access logs hang on: [`Observer::on_request`] is
//! called once per request, when its response body ended or was dropped.

use std::net::SocketAddr;
use std::time::Duration;

/// Receives one [`RequestRecord`] per request.
///
/// Called on the connection's task, so keep it short: bump counters, push
/// a log line to a non-blocking writer.
pub trait Observer: Send + Sync + 'static {
    /// One request is over (its response body ended or was dropped).
    fn on_request(&self, record: &RequestRecord<'_>);
}

/// What happened to one request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestRecord<'a> {
    /// The listener's name.
    pub listener: &'a str,
    /// Index of the matched route in the table, if any matched.
    pub route: Option<usize>,
    /// The upstream the request went to, if one was chosen.
    pub upstream: Option<&'a str>,
    /// The server (endpoint id, `host:port`) that answered, if any.
    pub server: Option<&'a str>,
    /// The status sent to the client; 499 (as nginx) when the client went
    /// away before a response was ready.
    pub status: u16,
    /// The request method.
    pub method: &'a http::Method,
    /// The request host (`Host` header or URI authority), `""` if none.
    pub host: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    /// The client address (PROXY protocol source, or the TCP peer).
    pub client: SocketAddr,
    /// From the request head to the end of the response body.
    pub duration: Duration,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
}
