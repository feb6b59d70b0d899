//! The file shapes of listeners and routes (flat, with every key optional),
//! and their lowering into the typed model with every mistake reported.

mod listener;
mod route;

pub(crate) use listener::{resolve, ListenerSpec, Routes};
pub(crate) use route::RouteSpec;
