//! The in-process backends of `lb-server demo`.
//!
//! Each is a tiny hyper HTTP/1.1 server on an ephemeral loopback port: `/`
//! answers its own name, `/health` answers 200, anything else 404. Every
//! response carries `x-backend: <name>`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// A running demo backend.
#[derive(Debug)]
pub(crate) struct DemoBackend {
    /// Its name, the body of `/`.
    pub(crate) name: &'static str,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

/// Start a demo backend on `127.0.0.1:0`; it stops when `stop` is cancelled.
pub(crate) async fn start(
    name: &'static str,
    stop: CancellationToken,
) -> std::io::Result<DemoBackend> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        debug!(%error, "demo backend accept");
                        continue;
                    }
                },
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(name, req));
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => if let Err(error) = result {
                        debug!(%error, "demo backend connection");
                    },
                    () = stop.cancelled() => {},
                }
            });
        }
    });
    Ok(DemoBackend { name, addr })
}

async fn answer(
    name: &'static str,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/" => (StatusCode::OK, Bytes::from(format!("{name}\n"))),
        "/health" => (StatusCode::OK, Bytes::from_static(b"ok\n")),
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("x-backend", http::HeaderValue::from_static(name));
    Ok(response)
}
