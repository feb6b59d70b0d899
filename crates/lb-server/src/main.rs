//! lb-server.
fn main() {}
