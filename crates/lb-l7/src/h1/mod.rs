//! The HTTP/1.1 fast path: our own connection loop for the common request
//! (HTTP/1.1, origin-form, no body or a `Content-Length` body of at most
//! 64 KiB, no upgrade, no `Expect`) to an upstream of plain HTTP/1.1
//! servers.
//!
//! Why: with hyper on both sides a proxied request goes through two codecs,
//! two tasks (the client connection's and the pooled server connection's)
//! and the channels between them, and every kept-alive connection holds
//! hyper's read and write buffers while it waits. Here one task per client
//! connection reads the head with `httparse` into `http` types (sharing the
//! read buffer, no copies), routes and rewrites it with the same code as the
//! hyper path, writes it straight onto a pooled server connection, reads
//! the response head the same way and relays the body as the server framed
//! it. An idle connection holds no buffer at all.
//!
//! Everything else — HTTP/1.0, chunked or larger request bodies, upgrades,
//! `Expect`, h2c, malformed or oversized heads, upstreams over HTTP/2 or
//! TLS — is not handled here: the connection is handed to hyper (with the bytes already
//! read put back in front) and stays with it, so hyper's answers and limits
//! apply unchanged.

pub(crate) mod chunked;
pub(crate) mod conn;
pub(crate) mod framing;
pub(crate) mod head;
pub(crate) mod prefixed;
pub(crate) mod relay;
