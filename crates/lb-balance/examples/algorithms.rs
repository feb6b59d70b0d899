//! The classic comparison table of the balancing algorithms, measured.
//!
//! `cargo run --release -p lb-balance --example algorithms` (what
//! `cargo xtask algorithms` runs) prints markdown for `docs/algorithms.md`:
//! for every algorithm, the load spread over 100,000 requests with distinct
//! keys on 10 servers of equal weight (64 requests in flight, finishing in
//! order), whether a key sticks to its server, the share of keys that move
//! when an 11th server is added and when one of the 10 is removed, and the
//! time per pick; then the time per pick at 3, 100 and 1000 servers, idle
//! and loaded.
//!
//! Times are the best of several runs, on one thread, so that other
//! processes on the machine weigh as little as possible; the criterion
//! bench (`cargo bench -p lb-balance --bench pick`) gives the medians.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use lb_balance::{hash, Algorithm, Balancer, Endpoint, InFlight, PickRequest};

const SERVERS: usize = 10;
const KEYS: usize = 100_000;
const IN_FLIGHT: usize = 64;
const TIMED_PICKS: u64 = 100_000;
const TIMED_RUNS: usize = 20;
const SEED: u64 = 42;

fn servers(n: usize) -> Vec<Endpoint<usize>> {
    (0..n)
        .map(|i| Endpoint::new(format!("10.0.0.{i}:8080"), i))
        .collect()
}

fn balancer(algorithm: &Algorithm, n: usize) -> Balancer<usize> {
    Balancer::new(algorithm.clone(), servers(n)).with_seed(SEED)
}

/// One pass over `keys` with `IN_FLIGHT` requests open (finishing in order):
/// the server of each key.
fn run(b: &Balancer<usize>, keys: &[u64]) -> Vec<usize> {
    let mut open: VecDeque<InFlight> = VecDeque::with_capacity(IN_FLIGHT + 1);
    keys.iter()
        .map(|&k| {
            let e = b.pick(&PickRequest::with_key(k)).map_or(usize::MAX, |e| {
                open.push_back(e.state().start());
                *e.value()
            });
            if open.len() > IN_FLIGHT {
                open.pop_front();
            }
            e
        })
        .collect()
}

/// The server of each key on an idle set (no requests open).
fn idle(b: &Balancer<usize>, keys: &[u64]) -> Vec<usize> {
    keys.iter()
        .map(|&k| {
            b.pick(&PickRequest::with_key(k))
                .map_or(usize::MAX, |e| *e.value())
        })
        .collect()
}

fn share(a: &[usize], b: &[usize]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
}

struct Row {
    name: String,
    max_over_avg: f64,
    cv: f64,
    sticky: f64,
    moved_add: f64,
    moved_remove: f64,
    ns: f64,
}

fn measure(name: &str, algorithm: &Algorithm, keys: &[u64]) -> Row {
    // Spread and stickiness: two passes over the same keys, the second in
    // a shuffled order (by a scrambled key, not by ring position) so that
    // no cycle lines up.
    let b = balancer(algorithm, SERVERS);
    let first = run(&b, keys);
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| hash::mix64(keys[i]));
    let shuffled: Vec<u64> = order.iter().map(|&i| keys[i]).collect();
    let mut second = vec![0; keys.len()];
    for (&i, s) in order.iter().zip(run(&b, &shuffled)) {
        second[i] = s;
    }
    let mut counts = [0f64; SERVERS];
    first.iter().for_each(|&s| counts[s] += 1.0);
    let avg = KEYS as f64 / SERVERS as f64;
    let max = counts.iter().copied().fold(0.0, f64::max);
    let var = counts.iter().map(|c| (c - avg).powi(2)).sum::<f64>() / SERVERS as f64;

    // Keys moved: 10 servers, then 11 (one added), then 9 (the 5th removed).
    let ten = idle(&balancer(algorithm, SERVERS), keys);
    let eleven = idle(&balancer(algorithm, SERVERS + 1), keys);
    let nine_set: Vec<Endpoint<usize>> = servers(SERVERS)
        .into_iter()
        .filter(|e| *e.value() != 4)
        .collect();
    let nine = idle(
        &Balancer::new(algorithm.clone(), nine_set).with_seed(SEED),
        keys,
    );

    // Time per pick on the idle set, keys changing every pick; unseeded,
    // as in production (per-thread random numbers). The best of several
    // runs, so that other processes on the machine count as little as
    // possible.
    let b = Balancer::new(algorithm.clone(), servers(SERVERS));
    let mut key = 0u64;
    let ns = (0..TIMED_RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..TIMED_PICKS {
                key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                black_box(b.pick(black_box(&PickRequest::with_key(key))));
            }
            start.elapsed().as_nanos() as f64 / TIMED_PICKS as f64
        })
        .fold(f64::INFINITY, f64::min);

    Row {
        name: name.to_owned(),
        max_over_avg: max / avg,
        cv: var.sqrt() / avg,
        sticky: 1.0 - share(&first, &second),
        moved_add: share(&ten, &eleven),
        moved_remove: share(&ten, &nine),
        ns,
    }
}

/// A share of moved keys, for algorithms where keys have a server at all.
fn moved(algorithm: &Algorithm, share: f64) -> String {
    if algorithm.uses_key() {
        format!("{:.1}%", share * 100.0)
    } else {
        "— (no affinity)".to_owned()
    }
}

/// Servers for the timing table: weights 1-3.
fn weighted_servers(n: usize) -> Vec<Endpoint<usize>> {
    (0..n)
        .map(|i| {
            Endpoint::new(
                format!("10.{}.{}.{}:8080", i >> 16, (i >> 8) & 255, i & 255),
                i,
            )
            .with_weight(1 + (i % 3) as u32)
        })
        .collect()
}

/// Best-of-runs ns per pick on `n` servers; `loaded` holds one request on
/// every server and one more on every third.
fn ns_per_pick(algorithm: &Algorithm, n: usize, loaded: bool) -> f64 {
    let eps = weighted_servers(n);
    let _guards: Vec<InFlight> = if loaded {
        eps.iter()
            .map(|e| e.state().start())
            .chain(eps.iter().step_by(3).map(|e| e.state().start()))
            .collect()
    } else {
        Vec::new()
    };
    let b = Balancer::new(algorithm.clone(), eps);
    let picks = if n >= 1000 {
        TIMED_PICKS / 10
    } else {
        TIMED_PICKS
    };
    let mut key = 0u64;
    (0..TIMED_RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..picks {
                key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                black_box(b.pick(black_box(&PickRequest::with_key(key))));
            }
            start.elapsed().as_nanos() as f64 / picks as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn timing_table() {
    let bounded = |ring: bool| {
        if ring {
            Algorithm::ConsistentHash {
                vnodes: lb_balance::DEFAULT_VNODES,
                bounded_load: Some(1.25),
            }
        } else {
            Algorithm::Maglev {
                table_size: lb_balance::DEFAULT_MAGLEV_TABLE_SIZE,
                bounded_load: Some(1.25),
            }
        }
    };
    let mut rows: Vec<(String, Algorithm, bool)> = lb_balance::ALGORITHM_NAMES
        .iter()
        .filter_map(|n| Some((format!("`{n}`"), n.parse().ok()?, false)))
        .collect();
    rows.insert(
        2,
        ("`least_conn`, all busy".into(), Algorithm::LeastConn, true),
    );
    rows.push((
        "`consistent_hash` + bounded, idle".into(),
        bounded(true),
        false,
    ));
    rows.push((
        "`consistent_hash` + bounded, all busy".into(),
        bounded(true),
        true,
    ));
    rows.push(("`maglev` + bounded, idle".into(), bounded(false), false));
    rows.push(("`maglev` + bounded, all busy".into(), bounded(false), true));
    println!(
        "\nns per pick (best of {TIMED_RUNS} runs; servers of weights 1-3; \
         \"all busy\": every server has requests in flight):\n"
    );
    println!("| algorithm | 3 servers | 100 servers | 1000 servers |");
    println!("|---|---:|---:|---:|");
    for (name, algorithm, loaded) in &rows {
        let t: Vec<String> = [3, 100, 1000]
            .iter()
            .map(|&n| format!("{:.1}", ns_per_pick(algorithm, n, *loaded)))
            .collect();
        println!("| {name} | {} |", t.join(" | "));
    }
}

fn main() {
    let keys: Vec<u64> = (0..KEYS)
        .map(|i| hash::hash_key(format!("key-{i}").as_bytes()))
        .collect();
    let mut algorithms: Vec<(String, Algorithm)> = lb_balance::ALGORITHM_NAMES
        .iter()
        .filter_map(|n| Some((format!("`{n}`"), n.parse().ok()?)))
        .collect();
    algorithms.push((
        "`consistent_hash` + `bounded_load = 1.25`".into(),
        Algorithm::ConsistentHash {
            vnodes: lb_balance::DEFAULT_VNODES,
            bounded_load: Some(1.25),
        },
    ));
    algorithms.push((
        "`maglev` + `bounded_load = 1.25`".into(),
        Algorithm::Maglev {
            table_size: lb_balance::DEFAULT_MAGLEV_TABLE_SIZE,
            bounded_load: Some(1.25),
        },
    ));

    println!(
        "{KEYS} requests with distinct keys on {SERVERS} servers of weight 1, \
         {IN_FLIGHT} in flight (finishing in order); a key's 2nd request comes in a \
         second pass over the keys in a shuffled order; moves are measured on idle \
         servers; ns/pick: best of {TIMED_RUNS} runs of {TIMED_PICKS} picks on one \
         thread, {SERVERS} idle servers.\n"
    );
    println!(
        "| algorithm | max/avg | stddev/avg | same server on a key's 2nd request | \
         keys moved, server added (ideal {:.1}%) | keys moved, server removed (ideal {:.1}%) | ns/pick |",
        100.0 / (SERVERS + 1) as f64,
        100.0 / SERVERS as f64
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, algorithm) in &algorithms {
        let r = measure(name, algorithm, &keys);
        println!(
            "| {} | {:.3} | {:.2}% | {:.1}% | {} | {} | {:.1} |",
            r.name,
            r.max_over_avg,
            r.cv * 100.0,
            r.sticky * 100.0,
            moved(algorithm, r.moved_add),
            moved(algorithm, r.moved_remove),
            r.ns
        );
    }
    timing_table();
}
