//! Relaying a server's response to the client: the head as rewritten, then
//! the body byte for byte as the server framed it (`Content-Length`,
//! chunked — forwarded verbatim, scanned only to find its end — or until
//! the server closes).

use bytes::Buf;
use http::header::SET_COOKIE;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::chunked::{ChunkedScanner, Scan};
use super::framing::BodyLen;
use super::head;
use crate::proxy::fast::{Fields, ServerReply};

/// Read buffer size while relaying a body.
const BODY_BUF: usize = 16 * 1024;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relayed {
    /// The whole response reached the client.
    Done,
    /// The server failed or broke the framing: the client got a cut
    /// response and its connection must close.
    ServerFailed,
    /// The client went away.
    ClientGone,
}

/// What the relay did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) how: Relayed,
    /// Body bytes written to the client.
    pub(crate) bytes: u64,
    /// The client connection closes after this response.
    pub(crate) close: bool,
}

/// Send `reply` to the client `io`; `close` adds `Connection: close`. The
/// server connection goes back to its pool if the response ended cleanly
/// and the server keeps it open.
pub(crate) async fn relay<I>(io: &mut I, reply: ServerReply, close: bool) -> Outcome
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let ServerReply {
        head: resp,
        fields,
        mut conn,
        pool,
        max_idle,
    } = reply;
    let body = resp.body;
    let close = close || body == BodyLen::UntilClose;
    let mut out = Vec::with_capacity(512 + conn.buf.len().min(BODY_BUF));
    match &fields {
        Fields::Map(map) => head::write_response(&mut out, &resp, map, close),
        Fields::Raw(cookie) => {
            let extra = cookie.as_ref().map(|c| (&SET_COOKIE, c));
            if !head::write_response_raw(&mut out, &resp, extra, close) {
                return Outcome {
                    how: Relayed::ServerFailed,
                    bytes: 0,
                    close: true,
                };
            }
        }
    }
    drop(fields);
    let keep_alive = resp.keep_alive;
    // The head's fields share the read buffer: let go of them so that it
    // can be reused in place.
    drop(resp);

    let mut outcome = Outcome {
        how: Relayed::Done,
        bytes: 0,
        close,
    };
    let mut remaining = match body {
        BodyLen::Empty => 0,
        BodyLen::Length(n) => n,
        BodyLen::Chunked | BodyLen::UntilClose => u64::MAX,
    };
    let mut scanner = (body == BodyLen::Chunked).then(ChunkedScanner::new);
    let mut first = true;
    loop {
        // How much of what is buffered belongs to the body.
        let take = match &mut scanner {
            Some(s) => match s.scan(&conn.buf) {
                Ok(Scan::More) => conn.buf.len(),
                Ok(Scan::Done(n)) => {
                    remaining = 0;
                    n
                }
                Err(error) => {
                    tracing::debug!(%error, "bad chunked body from server");
                    outcome.how = Relayed::ServerFailed;
                    break;
                }
            },
            None => usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(conn.buf.len()),
        };
        if scanner.is_none() && body != BodyLen::UntilClose {
            remaining -= take as u64;
        }
        let chunk = &conn.buf[..take];
        let written = if first {
            first = false;
            out.extend_from_slice(chunk);
            io.write_all(&out).await
        } else if take > 0 {
            io.write_all(chunk).await
        } else {
            Ok(())
        };
        conn.buf.advance(take);
        if written.is_err() {
            outcome.how = Relayed::ClientGone;
            outcome.close = true;
            return outcome;
        }
        outcome.bytes += take as u64;
        if remaining == 0 {
            break;
        }
        if !conn.buf.is_empty() {
            // Bytes past the end of a chunked body: scanned below.
            continue;
        }
        conn.buf.clear();
        if conn.buf.capacity() < BODY_BUF {
            conn.buf.reserve(BODY_BUF);
        }
        match conn.io.read_buf(&mut conn.buf).await {
            Ok(0) if body == BodyLen::UntilClose => break,
            Ok(0) | Err(_) => {
                outcome.how = Relayed::ServerFailed;
                break;
            }
            Ok(_) => {}
        }
    }
    if outcome.how == Relayed::ServerFailed {
        outcome.close = true;
        let _ = io.flush().await;
        return outcome;
    }
    // Anything the server sent past the body makes its connection useless.
    if keep_alive && body != BodyLen::UntilClose && conn.buf.is_empty() {
        pool.put_raw(conn, max_idle);
    }
    outcome
}
