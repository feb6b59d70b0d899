//! Servers given by host name: resolved at load, re-resolved every `dns_refresh`.
//!
//! Each resolved address is one endpoint with id `"ip:port"`, so a change of
//! the address set goes through [`Balancer::update`], which keeps the state
//! (health, ejection, counters) of every address that stays: the others are
//! not disturbed.
//!
//! Resolution uses the system resolver (`getaddrinfo` through
//! [`tokio::net::lookup_host`]) rather than a stub resolver: it honours
//! `/etc/hosts` and `nsswitch.conf` exactly like the rest of the host
//! (`localhost`, container host entries), needs no `/etc/resolv.conf`, and the
//! refresh period is the configuration's `dns_refresh`, so DNS TTLs are not
//! needed. A name that does not resolve is a warning, not a failure (as
//! Envoy's strict DNS clusters): it contributes no endpoint until it does.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lb_balance::{Balancer, Endpoint};
use tokio::task::JoinHandle;

use crate::state::BoxFuture;
use tracing::{debug, info, warn, Instrument};

/// The host part of a configured server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A literal IP address: one endpoint, never resolved.
    Ip(IpAddr),
    /// A host name: as many endpoints as it has addresses.
    Name(String),
}

/// One configured server, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerSpec {
    /// Host name or IP.
    pub(crate) host: Host,
    /// Port.
    pub(crate) port: u16,
    /// Weight (at least 1).
    pub(crate) weight: u32,
    /// Used only when no primary is available.
    pub(crate) backup: bool,
}

impl ServerSpec {
    /// Parse `"host:port"` / `"[v6]:port"`.
    #[cfg(test)]
    pub(crate) fn parse(addr: &str, weight: u32, backup: bool) -> Option<Self> {
        if let Ok(sa) = addr.parse::<SocketAddr>() {
            return Some(Self {
                host: Host::Ip(sa.ip()),
                port: sa.port(),
                weight,
                backup,
            });
        }
        let (host, port) = addr.rsplit_once(':')?;
        let port = port.parse().ok()?;
        if host.is_empty() {
            return None;
        }
        Some(Self {
            host: Host::Name(host.to_owned()),
            port,
            weight,
            backup,
        })
    }
}

/// The addresses each host name resolved to (sorted, no duplicates).
pub(crate) type Resolution = BTreeMap<String, Vec<IpAddr>>;

/// Whether any server is given by name.
pub(crate) fn has_names(specs: &[ServerSpec]) -> bool {
    specs.iter().any(|s| matches!(s.host, Host::Name(_)))
}

/// Resolves a host name (and port) to its addresses.
pub(crate) type Lookup =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver (`getaddrinfo`).
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|name: String, port: u16| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), port)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    })
}

/// Resolve every name in `specs` with the system resolver. A name that
/// fails keeps its `previous` addresses (or none) and is logged.
pub(crate) async fn resolve(
    upstream: &str,
    specs: &[ServerSpec],
    previous: &Resolution,
) -> Resolution {
    resolve_with(&system_lookup(), upstream, specs, previous).await
}

/// [`resolve`] with another resolver.
pub(crate) async fn resolve_with(
    lookup: &Lookup,
    upstream: &str,
    specs: &[ServerSpec],
    previous: &Resolution,
) -> Resolution {
    let mut out = Resolution::new();
    for spec in specs {
        let Host::Name(name) = &spec.host else {
            continue;
        };
        if out.contains_key(name) {
            continue;
        }
        let ips = match lookup(name.clone(), spec.port).await {
            Ok(mut ips) => {
                ips.sort_unstable();
                ips.dedup();
                ips
            }
            Err(error) => {
                let kept = previous.get(name).cloned().unwrap_or_default();
                warn!(upstream, host = %name, %error, kept = kept.len(), "cannot resolve server name");
                kept
            }
        };
        out.insert(name.clone(), ips);
    }
    out
}

/// The endpoints of `specs` under `resolution`, in configuration order; an
/// address that appears twice is kept once (the first wins).
pub(crate) fn endpoints(
    specs: &[ServerSpec],
    resolution: &Resolution,
) -> Vec<Endpoint<SocketAddr>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let ips: &[IpAddr] = match &spec.host {
            Host::Ip(ip) => std::slice::from_ref(ip),
            Host::Name(name) => resolution.get(name).map_or(&[], Vec::as_slice),
        };
        for ip in ips {
            let addr = SocketAddr::new(*ip, spec.port);
            if !seen.insert(addr) {
                continue;
            }
            out.push(
                Endpoint::new(addr.to_string(), addr)
                    .with_weight(spec.weight)
                    .with_backup(spec.backup),
            );
        }
    }
    out
}

/// Apply `max_connections_per_server` to every endpoint of the balancer.
pub(crate) fn apply_limits(balancer: &Balancer<SocketAddr>, max_in_flight: u32) {
    for e in balancer.snapshot().endpoints() {
        e.state().set_max_in_flight(max_in_flight);
    }
}

/// What a refresh task needs.
pub(crate) struct Refresh {
    /// Upstream name, for logs.
    pub(crate) upstream: Arc<str>,
    /// The configured servers.
    pub(crate) specs: Vec<ServerSpec>,
    /// The balancer to update.
    pub(crate) balancer: Arc<Balancer<SocketAddr>>,
    /// `dns_refresh`.
    pub(crate) every: Duration,
    /// `max_connections_per_server`, applied to new endpoints.
    pub(crate) max_in_flight: u32,
    /// The resolution the balancer was built from.
    pub(crate) current: Resolution,
    /// The resolver.
    pub(crate) lookup: Lookup,
}

/// Re-resolve every `every` (until aborted), updating the balancer when the
/// address set changes.
pub(crate) fn spawn_refresh(refresh: Refresh) -> JoinHandle<()> {
    let span = tracing::debug_span!("dns", upstream = %refresh.upstream);
    tokio::spawn(
        async move {
            let Refresh {
                upstream,
                specs,
                balancer,
                every,
                max_in_flight,
                mut current,
                lookup,
            } = refresh;
            let every = every.max(Duration::from_secs(1));
            loop {
                tokio::time::sleep(every).await;
                let next = resolve_with(&lookup, &upstream, &specs, &current).await;
                if next == current {
                    debug!("addresses unchanged");
                    continue;
                }
                info!(before = ?current, after = ?next, "server addresses changed");
                balancer.update(endpoints(&specs, &next));
                apply_limits(&balancer, max_in_flight);
                current = next;
            }
        }
        .instrument(span),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ips_and_names() {
        let s = ServerSpec::parse("127.0.0.1:80", 2, false).unwrap();
        assert_eq!(s.host, Host::Ip("127.0.0.1".parse().unwrap()));
        let s = ServerSpec::parse("[::1]:80", 1, true).unwrap();
        assert_eq!(s.host, Host::Ip("::1".parse().unwrap()));
        let s = ServerSpec::parse("api.internal:8080", 1, false).unwrap();
        assert_eq!(s.host, Host::Name("api.internal".into()));
        assert_eq!(s.port, 8080);
        assert!(ServerSpec::parse("nope", 1, false).is_none());
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_endpoints() {
        let specs = vec![ServerSpec::parse("localhost:8080", 3, false).unwrap()];
        let res = resolve("u", &specs, &Resolution::new()).await;
        let eps = endpoints(&specs, &res);
        assert!(!eps.is_empty());
        for e in &eps {
            assert!(e.value().ip().is_loopback());
            assert_eq!(&**e.id(), e.value().to_string());
            assert_eq!(e.weight(), 3);
        }
    }

    #[test]
    fn duplicate_addresses_are_kept_once() {
        let specs = vec![
            ServerSpec::parse("127.0.0.1:80", 1, false).unwrap(),
            ServerSpec::parse("lo:80", 1, false).unwrap(),
        ];
        let mut res = Resolution::new();
        res.insert(
            "lo".into(),
            vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
        );
        let ids: Vec<String> = endpoints(&specs, &res)
            .iter()
            .map(|e| e.id().to_string())
            .collect();
        assert_eq!(ids, ["127.0.0.1:80", "127.0.0.2:80"]);
    }

    #[test]
    fn update_keeps_state_of_addresses_that_stay() {
        let specs = vec![ServerSpec::parse("svc:80", 1, false).unwrap()];
        let mut res = Resolution::new();
        res.insert(
            "svc".into(),
            vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
        );
        let b = Balancer::new(lb_balance::Algorithm::RoundRobin, endpoints(&specs, &res));
        b.snapshot()
            .get("10.0.0.1:80")
            .unwrap()
            .state()
            .set_ejected(true);
        res.insert(
            "svc".into(),
            vec!["10.0.0.1".parse().unwrap(), "10.0.0.3".parse().unwrap()],
        );
        b.update(endpoints(&specs, &res));
        let snap = b.snapshot();
        assert!(snap.get("10.0.0.1:80").unwrap().state().is_ejected());
        assert!(snap.get("10.0.0.2:80").is_none());
        assert!(!snap.get("10.0.0.3:80").unwrap().state().is_ejected());
    }

    /// A resolver answering whatever the test last put in `answer`.
    fn fake(answer: Arc<std::sync::Mutex<io::Result<Vec<IpAddr>>>>) -> Lookup {
        Arc::new(move |_name: String, _port: u16| {
            let a = answer.lock().unwrap();
            let r = match &*a {
                Ok(ips) => Ok(ips.clone()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            Box::pin(async move { r })
        })
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn refresh_applies_address_changes_and_keeps_the_state_of_stayers() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let specs = vec![
            ServerSpec::parse("10.9.9.9:80", 1, false).unwrap(),
            ServerSpec::parse("svc:80", 2, false).unwrap(),
        ];
        let answer = Arc::new(std::sync::Mutex::new(Ok(vec![
            ip("10.0.0.2"),
            ip("10.0.0.1"),
        ])));
        let lookup = fake(Arc::clone(&answer));
        let current = resolve_with(&lookup, "u", &specs, &Resolution::new()).await;
        let balancer = Arc::new(Balancer::new(
            lb_balance::Algorithm::RoundRobin,
            endpoints(&specs, &current),
        ));
        let ids = |b: &Balancer<SocketAddr>| -> Vec<String> {
            b.snapshot()
                .endpoints()
                .iter()
                .map(|e| e.id().to_string())
                .collect()
        };
        assert_eq!(
            ids(&balancer),
            ["10.9.9.9:80", "10.0.0.1:80", "10.0.0.2:80"]
        );
        balancer
            .snapshot()
            .get("10.0.0.1:80")
            .unwrap()
            .state()
            .set_ejected(true);

        let task = spawn_refresh(Refresh {
            upstream: Arc::from("u"),
            specs: specs.clone(),
            balancer: Arc::clone(&balancer),
            every: Duration::from_secs(30),
            max_in_flight: 7,
            current,
            lookup,
        });
        // A failed lookup keeps the addresses.
        *answer.lock().unwrap() = Err(io::Error::other("SERVFAIL"));
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(
            ids(&balancer),
            ["10.9.9.9:80", "10.0.0.1:80", "10.0.0.2:80"]
        );
        // .2 leaves, .3 arrives; .1 stays ejected, the literal IP is untouched.
        *answer.lock().unwrap() = Ok(vec![ip("10.0.0.3"), ip("10.0.0.1")]);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            ids(&balancer),
            ["10.9.9.9:80", "10.0.0.1:80", "10.0.0.3:80"]
        );
        let snap = balancer.snapshot();
        assert!(snap.get("10.0.0.1:80").unwrap().state().is_ejected());
        let new = snap.get("10.0.0.3:80").unwrap();
        assert!(new.state().is_healthy());
        assert_eq!(new.weight(), 2);
        let _busy: Vec<_> = (0..7).map(|_| new.state().start()).collect();
        assert!(
            new.state().is_full(),
            "max_connections_per_server applies to new addresses"
        );
        task.abort();
    }
}
