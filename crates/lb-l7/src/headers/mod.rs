//! Header manipulation: rewriting, forwarding headers, hop-by-hop stripping.
//!
//! Pure functions on [`http::HeaderMap`] ([`HeaderRewrite::apply`], [`strip_hop_by_hop`],
//! [`apply_forwarded`]) and the same as tower layers that any HTTP stack can reuse alone:
//! [`HeaderRewriteLayer`], [`HopByHopLayer`], [`ForwardedHeadersLayer`].
//!
//! The proxy's order for a request is: strip hop-by-hop headers, add forwarding headers, apply
//! the route's request rewrite (so a route can still override or remove a forwarding header);
//! for a response: strip hop-by-hop headers, apply the route's response rewrite.
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use lb_l7::headers::{apply_forwarded, strip_hop_by_hop, Forwarded};
//!
//! let mut h = HeaderMap::new();
//! h.insert("connection", HeaderValue::from_static("x-forwarded-for"));
//! h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
//! strip_hop_by_hop(&mut h); // the client named it in Connection: it goes
//! apply_forwarded(&mut h, &Forwarded { client_ip: "192.0.2.9".parse()?, proto: "http", host: None });
//! assert_eq!(h["x-forwarded-for"], "192.0.2.9");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod forwarded;
mod forwarded_layer;
mod future;
mod hop_by_hop;
mod hop_by_hop_layer;
mod rewrite;
mod rewrite_layer;

pub use forwarded::{
    apply_forwarded, Forwarded, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REAL_IP,
};
pub use forwarded_layer::{ForwardedHeadersLayer, ForwardedHeadersService};
pub use future::ResponseFuture;
pub use hop_by_hop::strip_hop_by_hop;
pub use hop_by_hop_layer::{HopByHopLayer, HopByHopService};
pub use rewrite::HeaderRewrite;
pub use rewrite_layer::{HeaderRewriteLayer, HeaderRewriteService};
