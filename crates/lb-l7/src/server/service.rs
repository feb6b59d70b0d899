//! The per-connection hyper service: counts the request on the connection,
//! prepares its bookkeeping and hands it to the router.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::{ConnInfo, ConnState, HttpListener};
use crate::body::ProxyBody;
use crate::proxy::record::{Completion, RecordCtx};

/// Serves the requests of one connection.
#[derive(Clone)]
pub(crate) struct ConnService {
    listener: Arc<HttpListener>,
    info: ConnInfo,
    tls: bool,
    state: Arc<ConnState>,
}

impl ConnService {
    pub(crate) fn new(
        listener: Arc<HttpListener>,
        info: ConnInfo,
        tls: bool,
        state: Arc<ConnState>,
    ) -> Self {
        Self {
            listener,
            info,
            tls,
            state,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.state.request_started(req.version());
        let record = self.listener.observer().map(|observer| {
            Box::new(RecordCtx {
                observer: Arc::clone(observer),
                listener: Arc::clone(self.listener.name_arc()),
                method: req.method().clone(),
                uri: req.uri().clone(),
                host: req.headers().get(http::header::HOST).cloned(),
                client: self.info.client,
                start: Instant::now(),
                bytes_in: None,
            })
        });
        let done = Completion::new(Some(Arc::clone(&self.state)), record);
        let listener = Arc::clone(&self.listener);
        let (info, tls) = (self.info, self.tls);
        Box::pin(async move { Ok(crate::proxy::handle(&listener, info, tls, req, done).await) })
    }
}
