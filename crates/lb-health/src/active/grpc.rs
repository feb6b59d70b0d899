//! [`GrpcCheck`]: `grpc.health.v1.Health/Check` over h2c (prior knowledge).
//!
//! The two messages involved are tiny, so they are encoded by hand rather
//! than pulling in a protobuf toolchain:
//! `HealthCheckRequest { string service = 1; }` and
//! `HealthCheckResponse { ServingStatus status = 1; }` with `SERVING = 1`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower_service::Service;

use super::check::{AbortOnDrop, CheckFuture};
use super::error::CheckError;

/// The path of the standard gRPC health check method.
pub(crate) const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// `ServingStatus.SERVING`.
const SERVING: u64 = 1;
/// Largest response body read (a healthy answer is 7 bytes).
const MAX_RESPONSE: usize = 64 * 1024;

/// A gRPC health probe: opens a new h2c connection and calls
/// `grpc.health.v1.Health/Check` for one service; passes when the call
/// succeeds (`grpc-status: 0`) and the answer is `SERVING`.
#[derive(Debug, Clone)]
pub struct GrpcCheck {
    service: Arc<str>,
}

impl GrpcCheck {
    /// Ask about `service` (`""`: the server as a whole).
    #[must_use]
    pub fn new(service: impl Into<Arc<str>>) -> Self {
        Self {
            service: service.into(),
        }
    }
}

impl Service<SocketAddr> for GrpcCheck {
    type Response = ();
    type Error = CheckError;
    type Future = CheckFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, addr: SocketAddr) -> Self::Future {
        let service = Arc::clone(&self.service);
        Box::pin(async move { probe(&service, addr).await })
    }
}

async fn probe(service: &str, addr: SocketAddr) -> Result<(), CheckError> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}{HEALTH_CHECK_PATH}"))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header(USER_AGENT, concat!("lb-health/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(encode_request(service)))
        .map_err(CheckError::Request)?;

    let stream = TcpStream::connect(addr)
        .await
        .map_err(CheckError::Connect)?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(CheckError::Http)?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::trace!(%error, "grpc health check connection ended");
        }
    }));
    sender.ready().await.map_err(CheckError::Http)?;
    let resp = sender.send_request(req).await.map_err(CheckError::Http)?;
    if resp.status() != StatusCode::OK {
        return Err(CheckError::Status(resp.status().as_u16()));
    }
    let (parts, body) = resp.into_parts();
    // A "trailers-only" answer carries grpc-status in the headers.
    if let Some(code) = grpc_status(&parts.headers) {
        if code != "0" {
            return Err(CheckError::GrpcStatus(Some(code.to_owned())));
        }
    }
    let collected = Limited::new(body, MAX_RESPONSE)
        .collect()
        .await
        .map_err(|_| CheckError::Malformed("response body failed or too large"))?;
    let trailer_status = collected
        .trailers()
        .and_then(grpc_status)
        .map(str::to_owned);
    let header_ok = grpc_status(&parts.headers) == Some("0");
    match trailer_status.as_deref() {
        Some("0") => {}
        None if header_ok => {}
        other => return Err(CheckError::GrpcStatus(other.map(str::to_owned))),
    }
    let status = decode_response(&collected.to_bytes())?;
    if status == SERVING {
        Ok(())
    } else {
        Err(CheckError::NotServing(status))
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<&str> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok())
}

/// The length-prefixed gRPC frame of `HealthCheckRequest { service }`.
pub(crate) fn encode_request(service: &str) -> Bytes {
    let mut msg = BytesMut::new();
    if !service.is_empty() {
        msg.put_u8(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut msg, service.len() as u64);
        msg.put_slice(service.as_bytes());
    }
    frame(&msg)
}

/// The length-prefixed gRPC frame of `HealthCheckResponse { status }`.
#[cfg(test)]
fn encode_response(status: u64) -> Bytes {
    let mut msg = BytesMut::new();
    if status != 0 {
        msg.put_u8(0x08); // field 1, wire type 0 (varint)
        put_varint(&mut msg, status);
    }
    frame(&msg)
}

fn frame(msg: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + msg.len());
    out.put_u8(0); // not compressed
    out.put_u32(msg.len() as u32);
    out.put_slice(msg);
    out.freeze()
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Decode the one message of a `Health/Check` response body and return its
/// `status` (0 when absent, as protobuf defaults).
pub(crate) fn decode_response(body: &[u8]) -> Result<u64, CheckError> {
    let [flag, l0, l1, l2, l3, rest @ ..] = body else {
        return Err(CheckError::Malformed("no message"));
    };
    if *flag != 0 {
        return Err(CheckError::Malformed("compressed message"));
    }
    let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
    let mut msg = rest
        .get(..len)
        .ok_or(CheckError::Malformed("truncated message"))?;
    let mut status = 0;
    while !msg.is_empty() {
        let key = take_varint(&mut msg)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = take_varint(&mut msg)?;
                if field == 1 {
                    status = v;
                }
            }
            1 => msg = skip(msg, 8)?,
            2 => {
                let n = usize::try_from(take_varint(&mut msg)?)
                    .map_err(|_| CheckError::Malformed("field too long"))?;
                msg = skip(msg, n)?;
            }
            5 => msg = skip(msg, 4)?,
            _ => return Err(CheckError::Malformed("unknown wire type")),
        }
    }
    Ok(status)
}

fn skip(msg: &[u8], n: usize) -> Result<&[u8], CheckError> {
    msg.get(n..).ok_or(CheckError::Malformed("truncated field"))
}

fn take_varint(msg: &mut &[u8]) -> Result<u64, CheckError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = msg
            .split_first()
            .ok_or(CheckError::Malformed("truncated varint"))?;
        *msg = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CheckError::Malformed("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encoding_matches_protobuf() {
        assert_eq!(&encode_request("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &encode_request("ab")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']
        );
    }

    #[test]
    fn response_round_trips_and_skips_unknown_fields() {
        for status in [0, 1, 2, 3, 300] {
            assert_eq!(decode_response(&encode_response(status)).unwrap(), status);
        }
        // field 2 (string "x") before field 1 = 2
        let body = [0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 2];
        assert_eq!(decode_response(&body).unwrap(), 2);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            &[][..],
            &[0, 0, 0],
            &[1, 0, 0, 0, 0],
            &[0, 0, 0, 0, 9, 0x08],
            &[0, 0, 0, 0, 2, 0x08, 0x80],
            &[0, 0, 0, 0, 2, 0x0b, 0],
            &[0, 0, 0, 0, 3, 0x12, 0x7f, 0],
        ] {
            assert!(decode_response(body).is_err(), "{body:?}");
        }
    }
}
