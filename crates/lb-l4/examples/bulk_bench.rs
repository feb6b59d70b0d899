//! Throughput of one bulk TCP transfer: direct, through the proxy with the
//! user-space copy, and through the proxy with `splice(2)`.
//!
//! ```text
//! cargo run --release -p lb-l4 --example bulk_bench -- [MiB per run, default 1024] [runs, default 5]
//! ```
//!
//! Everything runs on loopback in this process (a 2-worker tokio runtime):
//! a sink server that reads until EOF and answers with one byte, the proxy,
//! and a client writing the payload in 256 KiB writes. Each mode runs
//! `runs` times; the median and the best are printed in GiB/s, with the CPU
//! time of the whole process (client, proxy and sink; from `/proc/self/stat`)
//! per GiB moved, whose differences between modes are the proxy's cost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lb_balance::{Algorithm, Balancer, Endpoint};
use lb_l4::{TcpOptions, TcpProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1024);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(bench(mib, runs))
}

async fn bench(mib: usize, runs: usize) -> Result<(), Error> {
    let sink = sink().await?;
    println!("bulk transfer of {mib} MiB per run, {runs} runs per mode, loopback, 2 workers");
    println!(
        "{:<34} {:>12} {:>12} {:>14}",
        "mode", "median GiB/s", "best GiB/s", "CPU s per GiB"
    );
    report("direct (no proxy)", mib, runs, sink).await?;
    for (name, splice, buffer) in [
        ("proxy, user-space copy, 16 KiB", false, 16 * 1024),
        ("proxy, user-space copy, 64 KiB", false, 64 * 1024),
        ("proxy, user-space copy, 256 KiB", false, 256 * 1024),
        ("proxy, splice, 64 KiB pipe", true, 64 * 1024),
        ("proxy, splice, 256 KiB pipe", true, 256 * 1024),
        ("proxy, splice, 1 MiB pipe", true, 1024 * 1024),
    ] {
        let addr = proxy(sink, splice, buffer).await?;
        report(name, mib, runs, addr).await?;
    }
    Ok(())
}

async fn report(name: &str, mib: usize, runs: usize, addr: SocketAddr) -> Result<(), Error> {
    let mut rates = Vec::with_capacity(runs);
    let cpu_before = cpu_seconds();
    for _ in 0..runs {
        let elapsed = transfer(addr, mib).await?;
        rates.push(mib as f64 / 1024.0 / elapsed.as_secs_f64());
    }
    let cpu = (cpu_seconds() - cpu_before) / (runs * mib) as f64 * 1024.0;
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let best = rates[rates.len() - 1];
    println!("{name:<34} {median:>12.2} {best:>12.2} {cpu:>14.2}");
    Ok(())
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
/// Assumes the usual 100 clock ticks per second.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the ")" closing the command name; utime and stime are
    // the 14th and 15th fields of the whole line.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Write `mib` MiB, half-close, wait for the sink's one-byte answer.
async fn transfer(addr: SocketAddr, mib: usize) -> Result<Duration, Error> {
    let chunk = vec![0xa5u8; 256 * 1024];
    let mut stream = TcpStream::connect(addr).await?;
    let start = Instant::now();
    for _ in 0..mib * 4 {
        stream.write_all(&chunk).await?;
    }
    stream.shutdown().await?;
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack).await?;
    Ok(start.elapsed())
}

/// Reads until EOF, then answers one byte.
async fn sink() -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"!").await;
            });
        }
    });
    Ok(addr)
}

async fn proxy(server: SocketAddr, splice: bool, buffer_size: usize) -> Result<SocketAddr, Error> {
    let balancer = Arc::new(Balancer::new(
        Algorithm::RoundRobin,
        vec![Endpoint::new("sink", server)],
    ));
    let mut opts = TcpOptions::default();
    opts.splice = splice;
    opts.buffer_size = buffer_size;
    opts.pipe_size = buffer_size;
    let proxy = TcpProxy::new("bench", balancer, opts);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((io, client)) = listener.accept().await {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let local = io.local_addr()?;
                proxy.serve_connection(io, client, local).await?;
                Ok::<_, Error>(())
            });
        }
    });
    Ok(addr)
}
