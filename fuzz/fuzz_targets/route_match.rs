//! Route table construction and matching on arbitrary specs and requests.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::route::{HeaderMatch, PathMatch, RouteSpec, RouteTable, Target};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Input {
    specs: Vec<Spec>,
    method: Vec<u8>,
    host: Option<String>,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    rand: u64,
}

#[derive(Debug)]
struct Spec {
    host: Option<String>,
    path_kind: u8,
    path: String,
    methods: Vec<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    split: Vec<u32>,
}

impl<'a> Arbitrary<'a> for Spec {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut path: String = u.arbitrary()?;
        // Keep regexes small so each input stays fast to compile.
        path.truncate(path.char_indices().nth(48).map_or(path.len(), |(i, _)| i));
        Ok(Spec {
            host: u.arbitrary()?,
            path_kind: u.arbitrary()?,
            path,
            methods: u.arbitrary()?,
            headers: u.arbitrary()?,
            split: u.arbitrary()?,
        })
    }
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=8)?;
        let specs = (0..n)
            .map(|_| u.arbitrary())
            .collect::<arbitrary::Result<_>>()?;
        Ok(Input {
            specs,
            method: u.arbitrary()?,
            host: u.arbitrary()?,
            path: u.arbitrary()?,
            headers: u.arbitrary()?,
            rand: u.arbitrary()?,
        })
    }
}

fn spec(s: &Spec, i: usize) -> RouteSpec {
    let target = if s.split.is_empty() {
        Target::Upstream(format!("u{i}"))
    } else {
        Target::Split(
            s.split
                .iter()
                .enumerate()
                .map(|(j, w)| (format!("u{i}.{j}"), *w))
                .collect(),
        )
    };
    let mut r = RouteSpec::new(target);
    r.host = s.host.clone();
    r.path = match s.path_kind % 4 {
        0 => None,
        1 => Some(PathMatch::Prefix(s.path.clone())),
        2 => Some(PathMatch::Exact(s.path.clone())),
        _ => Some(PathMatch::Regex(s.path.clone())),
    };
    r.methods = s
        .methods
        .iter()
        .filter_map(|m| Method::from_bytes(m).ok())
        .collect();
    r.headers = s
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            let matcher = match value {
                None => HeaderMatch::Present,
                Some(v) => HeaderMatch::Exact(HeaderValue::from_bytes(v).ok()?),
            };
            Some((name, matcher))
        })
        .collect();
    r
}

fuzz_target!(|input: Input| {
    let specs = input
        .specs
        .iter()
        .enumerate()
        .map(|(i, s)| spec(s, i))
        .collect();
    let Ok(table) = RouteTable::new(specs) else {
        return;
    };
    let method = Method::from_bytes(&input.method).unwrap_or(Method::GET);
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let host = input.host.as_deref();
    let found = table.find(&method, host, &input.path, &headers);
    let explanation = table.explain(&method, host, &input.path, &headers);
    assert_eq!(explanation.matched(), found.map(|r| r.index()));
    let _ = explanation.to_string();
    if let Some(route) = found {
        let upstream = route.pick_upstream(input.rand);
        let configured = match &route.spec().target {
            Target::Upstream(name) => name == upstream,
            Target::Split(parts) => parts.iter().any(|(name, w)| name == upstream && *w > 0),
        };
        assert!(
            configured,
            "{upstream:?} is not a live target of route {}",
            route.index()
        );
    }
});
