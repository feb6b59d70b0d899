//! Helpers shared by `health_e2e`, `l7_e2e` and `l4_e2e` (engineer "e2e").
//!
//! Each test file includes this with `mod support_e2e;` and uses a subset,
//! hence the `dead_code` allowance.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context;
pub(crate) use lb_e2e::local;
use lb_e2e::{client, get, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The state of every server of upstream `upstream`, by address, from the
/// admin API's `/status`.
pub(crate) async fn states(admin: u16, upstream: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let reply = get(&client(), &format!("http://127.0.0.1:{admin}/status")).await?;
    anyhow::ensure!(reply.status == 200, "/status: {}", reply.status);
    let v: serde_json::Value = serde_json::from_str(&reply.body).context("/status JSON")?;
    let mut out = BTreeMap::new();
    for s in v["upstreams"][upstream]["servers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.insert(
            s["addr"].as_str().unwrap_or_default().to_owned(),
            s["state"].as_str().unwrap_or_default().to_owned(),
        );
    }
    Ok(out)
}

/// The state of server `addr` of `upstream` (empty if unknown or the admin
/// API did not answer).
pub(crate) async fn state_of(admin: u16, upstream: &str, addr: SocketAddr) -> String {
    states(admin, upstream)
        .await
        .ok()
        .and_then(|s| s.get(&addr.to_string()).cloned())
        .unwrap_or_default()
}

/// Wait (bounded by [`WAIT`]) until server `addr` of `upstream` is in `state`.
pub(crate) async fn wait_state(
    admin: u16,
    upstream: &str,
    addr: SocketAddr,
    state: &str,
) -> anyhow::Result<()> {
    lb_e2e::eventually(&format!("{addr} is {state}"), || async {
        (state_of(admin, upstream, addr).await == state).then_some(())
    })
    .await
}

/// Write `bytes` on a fresh connection to `port` and read until the peer
/// closes (bounded by [`WAIT`]).
pub(crate) async fn raw_exchange(port: u16, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut s = TcpStream::connect(local(port)).await?;
    s.write_all(bytes).await?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, read_to_end_lenient(&mut s, &mut out))
        .await
        .context("the connection was not closed in time")?;
    Ok(out)
}

/// Read until EOF; a reset after some bytes ends the read too (the bytes
/// read so far are kept).
pub(crate) async fn read_to_end_lenient(s: &mut TcpStream, out: &mut Vec<u8>) {
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read from `s` until `needle` has been seen; returns everything read.
pub(crate) async fn read_until(s: &mut TcpStream, needle: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !out.windows(needle.len()).any(|w| w == needle) {
            let n = s.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "EOF before {:?}", String::from_utf8_lossy(needle));
            out.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await
    .context("timed out reading")??;
    Ok(out)
}

/// A `Vm*` field of `/proc/<pid>/status` in KiB (Linux), e.g. `VmRSS`
/// (resident now) or `VmHWM` (peak resident so far).
pub(crate) fn vm_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .with_context(|| format!("no {field} line"))?;
    let kib = value
        .split_whitespace()
        .next()
        .context("empty value")?
        .parse()?;
    Ok(kib)
}
