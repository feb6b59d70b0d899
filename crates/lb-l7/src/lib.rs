//! HTTP/1.1 and HTTP/2 router and reverse proxy.

pub mod headers;
pub mod route;
