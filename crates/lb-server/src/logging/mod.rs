//! Logs (SPEC §3 `[log]`, §4 "Logs"): tracing-subscriber with an `EnvFilter`,
//! `text` or `json` lines on stderr through a non-blocking writer, and the
//! access log as events on the `lb::access` target.
//!
//! The writer is our batched one ([`batch`]): a request's thread only formats
//! the line and appends it to its own buffer; the `lb-log` thread writes the
//! buffers out every 100 ms (sooner when one passes 32 KiB). When a thread's
//! buffer is full (4 MiB, the destination is stuck) its lines are dropped
//! rather than slowing traffic.
//!
//! Access lines skip tracing-subscriber's formatter once [`init_with`] has
//! installed the logger: [`access_http`] and [`access_tcp`] write the same
//! bytes themselves ([`access`]) straight into the batched writer. Without
//! the process logger (tests with their own subscriber) they emit the
//! `lb::access` event as before.

mod access;
pub(crate) mod batch;
mod clock;

use std::cell::RefCell;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::SystemTime;

use tracing_subscriber::filter::{Directive, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::metrics::http::RequestOutcome;
use crate::metrics::tcp::ConnectionOutcome;

/// The target of access log events; `access_log = false` turns it off.
pub(crate) const ACCESS_TARGET: &str = "lb::access";

/// Above this capacity a thread's line buffer is given back after use.
const LINE_KEEP: usize = 64 * 1024;

/// Where access lines go directly, and in which format: set by [`init_with`]
/// when the installed filter lets `lb::access` through.
static ACCESS: OnceLock<(batch::BatchWriter, Format)> = OnceLock::new();

thread_local! {
    /// This thread's reusable buffer for one access line.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the background log writer alive; dropping it flushes buffered lines.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub(crate) struct LogGuard {
    /// The batched writer's guard.
    _flusher: batch::BatchGuard,
}

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Human-readable `key=value` lines.
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// Install the global subscriber from the `[log]` section.
///
/// # Errors
/// The level is not a valid `EnvFilter` string, or a global subscriber is
/// already installed.
pub(crate) fn init(cfg: &lb_config::LogConfig) -> Result<LogGuard, String> {
    let format = match cfg.format {
        lb_config::LogFormat::Json => Format::Json,
        lb_config::LogFormat::Text => Format::Text,
    };
    init_with(&cfg.level, format, cfg.access_log)
}

/// [`init`] with the settings spelled out.
///
/// # Errors
/// As [`init`].
pub(crate) fn init_with(level: &str, format: Format, access_log: bool) -> Result<LogGuard, String> {
    let filter = filter(level, access_log)?;
    // Batched: a busy access log costs one `write` per flush round (and per
    // logging thread), not one per line, and no wake-up per line.
    let (writer, flusher) = batch::BatchWriter::new(Box::new(std::io::stderr()))
        .map_err(|e| format!("log: cannot start the log thread: {e}"))?;
    let subscriber = subscriber(filter, format, writer.clone());
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("log: cannot install the logger: {e}"))?;
    // Asked once, of the filter just installed: `access_log = false` and a
    // `level` that turns the target off both leave the direct path unset.
    if direct_access(level) {
        // Cannot be set already: installing the global logger succeeded.
        let _ = ACCESS.set((writer, format));
    }
    Ok(LogGuard { _flusher: flusher })
}

/// Whether access lines can skip the just installed subscriber: its filter
/// lets every one of them through.
///
/// Only for a `level` without span or field directives (`[...]`): with
/// those the filter enables a line or not depending on where it is logged,
/// and `enabled!` over a per-layer filter may then answer `true` for a
/// target that is off. Such lines keep going through the subscriber.
fn direct_access(level: &str) -> bool {
    !level.contains('[') && tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO)
}

/// The filter: `level` as an `EnvFilter` string, plus the access log target
/// on (at `info`, whatever the level) or off, unless `level` names it.
///
/// # Errors
/// `level` does not parse.
pub(crate) fn filter(level: &str, access_log: bool) -> Result<EnvFilter, String> {
    let bad = |e: &dyn std::fmt::Display| {
        format!(
            "log.level: {level:?} is not a level or EnvFilter string ({e}); \
             expected e.g. \"info\" or \"warn,lb=debug\""
        )
    };
    let mut filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .parse(level)
        .map_err(|e| bad(&e))?;
    let access = if !access_log {
        Some("lb::access=off")
    } else if level.contains(ACCESS_TARGET) {
        None
    } else {
        Some("lb::access=info")
    };
    if let Some(directive) = access {
        let directive: Directive = directive.parse().map_err(|e| bad(&e))?;
        filter = filter.add_directive(directive);
    }
    Ok(filter)
}

/// The subscriber for a filter, format and writer.
pub(crate) fn subscriber<W>(
    filter: EnvFilter,
    format: Format,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = match format {
        Format::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// One access log line for an HTTP request.
pub(crate) fn access_http(listener: &str, o: &RequestOutcome<'_>) {
    if let Some((writer, format)) = ACCESS.get() {
        write_line(writer, |out| {
            access::http_line(out, *format, SystemTime::now(), listener, o);
        });
        return;
    }
    tracing::info!(
        target: ACCESS_TARGET,
        %listener,
        client = %o.client,
        method = %o.method,
        host = %o.host,
        path = %o.path,
        status = o.status,
        upstream = %o.upstream.unwrap_or("-"),
        server = %o.server.unwrap_or("-"),
        duration_ms = millis(o.duration),
        bytes_in = o.bytes_in,
        bytes_out = o.bytes_out,
    );
}

/// One access log line for a TCP connection.
pub(crate) fn access_tcp(listener: &str, o: &ConnectionOutcome<'_>) {
    if let Some((writer, format)) = ACCESS.get() {
        write_line(writer, |out| {
            access::tcp_line(out, *format, SystemTime::now(), listener, o);
        });
        return;
    }
    tracing::info!(
        target: ACCESS_TARGET,
        %listener,
        client = %o.client,
        server = %OrDash(o.server),
        bytes_up = o.bytes_up,
        bytes_down = o.bytes_down,
        duration_ms = millis(o.duration),
        close = %o.close,
    );
}

/// Build a line with `fill` in this thread's buffer and hand it to `writer`
/// in one write (so it stays whole).
fn write_line(writer: &batch::BatchWriter, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut fill = Some(fill);
    let _ = LINE.try_with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            return;
        };
        let Some(fill) = fill.take() else {
            return;
        };
        buf.clear();
        fill(&mut buf);
        // Cannot fail: the batch writer takes (or counts as dropped) every
        // line.
        let _ = writer.make_writer().write_all(&buf);
        if buf.capacity() > LINE_KEEP {
            *buf = Vec::new();
        }
    });
    // The thread's buffer is unavailable (its thread-locals are being torn
    // down): a one-off buffer.
    if let Some(fill) = fill {
        let mut buf = Vec::with_capacity(256);
        fill(&mut buf);
        let _ = writer.make_writer().write_all(&buf);
    }
}

/// Displays the value, or `-` for none.
struct OrDash<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrDash<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Milliseconds with microsecond precision.
fn millis(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    fn request() -> RequestOutcome<'static> {
        RequestOutcome {
            client: ([10, 0, 0, 7], 51234).into(),
            method: "GET",
            host: "example.com",
            path: "/api/v2/x",
            route: Some(0),
            upstream: Some("api"),
            server: None,
            status: 503,
            duration: Duration::from_micros(3172),
            bytes_in: 0,
            bytes_out: 20,
        }
    }

    /// What the subscriber writes for one access line and one `info` line.
    fn emit(level: &str, format: Format, access_log: bool) -> String {
        let buf = Buf::default();
        let subscriber = subscriber(filter(level, access_log).unwrap(), format, buf.clone());
        tracing::subscriber::with_default(subscriber, || {
            access_http("web", &request());
            tracing::info!(target: "lb_server::reload", "an info line");
        });
        let out = buf.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn access_log_does_not_depend_on_the_level_and_can_be_turned_off() {
        let out = emit("warn", Format::Text, true);
        assert!(out.contains("lb::access"), "{out}");
        assert!(
            out.contains("method=GET host=example.com path=/api/v2/x status=503"),
            "{out}"
        );
        assert!(
            out.contains("upstream=api server=- duration_ms=3.172 bytes_in=0 bytes_out=20"),
            "{out}"
        );
        assert!(!out.contains("an info line"), "{out}");

        let out = emit("info", Format::Text, false);
        assert!(!out.contains("lb::access"), "{out}");
        assert!(out.contains("an info line"), "{out}");

        // A level that names the target is respected as written.
        let out = emit("info,lb::access=off", Format::Text, true);
        assert!(!out.contains("lb::access"), "{out}");
    }

    #[test]
    fn json_lines_carry_the_access_fields() {
        let out = emit("info", Format::Json, true);
        let line = out.lines().find(|l| l.contains("lb::access")).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["target"], "lb::access");
        assert_eq!(v["client"], "10.0.0.7:51234");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["status"], 503);
        assert_eq!(v["upstream"], "api");
        assert_eq!(v["server"], "-");
        assert_eq!(v["duration_ms"], 3.172);
        assert_eq!(v["bytes_out"], 20);
    }

    #[test]
    fn access_lines_from_many_threads_arrive_whole_through_the_batch_writer() {
        const THREADS: usize = 4;
        const LINES: usize = 500;
        let out = Buf::default();
        let (writer, guard) = batch::BatchWriter::new(Box::new(out.clone())).unwrap();
        let dispatch = tracing::Dispatch::new(subscriber(
            filter("warn", true).unwrap(),
            Format::Json,
            writer,
        ));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let dispatch = dispatch.clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for _ in 0..LINES {
                            access_http(&format!("web{t}"), &request());
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut per_listener = std::collections::HashMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["status"], 503, "{line}");
            *per_listener
                .entry(v["listener"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        assert_eq!(per_listener.len(), THREADS);
        assert!(
            per_listener.values().all(|&n| n == LINES),
            "{per_listener:?}"
        );
    }

    /// The one line a subscriber in `format` writes while `emit` runs.
    fn subscriber_line(format: Format, emit: impl FnOnce()) -> String {
        let buf = Buf::default();
        let subscriber = subscriber(filter("warn", true).unwrap(), format, buf.clone());
        tracing::subscriber::with_default(subscriber, emit);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        // One event (a raw newline in a value can split it today: that is
        // what the direct path escapes).
        assert!(out.ends_with('\n'), "{out:?}");
        out
    }

    /// The line the direct path writes.
    fn direct_line(fill: impl FnOnce(&mut Vec<u8>, SystemTime)) -> String {
        let mut out = Vec::new();
        fill(&mut out, SystemTime::now());
        String::from_utf8(out).unwrap()
    }

    /// A line split into its timestamp and everything else.
    fn split_timestamp(line: &str, format: Format) -> (String, String) {
        match format {
            Format::Text => {
                let end = line.find(' ').unwrap();
                (line[..end].to_owned(), line[end..].to_owned())
            }
            Format::Json => {
                let prefix = "{\"timestamp\":\"";
                assert!(line.starts_with(prefix), "{line}");
                let end = prefix.len() + line[prefix.len()..].find('"').unwrap();
                let rest = format!("{prefix}{}", &line[end..]);
                (line[prefix.len()..end].to_owned(), rest)
            }
        }
    }

    /// What the direct path writes for a text line with control characters
    /// in values: the subscriber's raw ones escaped.
    fn escape_controls(line: &str) -> String {
        let (body, newline) = line.split_at(line.len() - 1);
        assert_eq!(newline, "\n");
        let mut out = String::new();
        for c in body.chars() {
            match u32::from(c) {
                n @ (0..0x20 | 0x7F) => out.push_str(&format!("\\x{n:02x}")),
                n @ 0x80..0xA0 => out.push_str(&format!("\\u{{{n:x}}}")),
                _ => out.push(c),
            }
        }
        out + newline
    }

    fn odd_request() -> RequestOutcome<'static> {
        RequestOutcome {
            client: "[2001:db8::7]:443".parse().unwrap(),
            method: "PO\"ST",
            host: "ex\"am\\ple\t.com é 日本 \x1b[2J",
            path: "/a\"b\\c\td/%20\u{85}\x1b]0;pwn\x07\n\r\0\x7f",
            route: None,
            upstream: None,
            server: Some("10.0.1.5:8080"),
            status: 200,
            duration: Duration::ZERO,
            bytes_in: u64::MAX,
            bytes_out: 5120,
        }
    }

    fn connections() -> Vec<ConnectionOutcome<'static>> {
        vec![
            ConnectionOutcome {
                client: ([10, 0, 0, 9], 40022).into(),
                server: Some(([10, 0, 2, 3], 5432).into()),
                close: "finished",
                bytes_up: 1834,
                bytes_down: 90211,
                duration: Duration::from_micros(8_123_554),
            },
            ConnectionOutcome {
                client: "[::1]:1".parse().unwrap(),
                server: None,
                close: "no_server",
                bytes_up: 0,
                bytes_down: 0,
                duration: Duration::from_micros(1_000_000),
            },
        ]
    }

    /// Compare the direct line with the subscriber's, timestamps aside.
    fn assert_same(format: Format, direct: &str, subscriber: &str, escaped: bool) {
        let (_, direct) = split_timestamp(direct, format);
        let (_, subscriber) = split_timestamp(subscriber, format);
        let want = if escaped && format == Format::Text {
            escape_controls(&subscriber)
        } else {
            subscriber
        };
        assert_eq!(direct, want);
    }

    #[test]
    fn direct_http_lines_are_the_subscribers_bytes() {
        let mut with_server = request();
        with_server.server = Some("10.0.1.5:8080");
        with_server.status = 200;
        with_server.bytes_out = 5120;
        for format in [Format::Text, Format::Json] {
            for (o, odd) in [
                (request(), false),
                (with_server, false),
                (odd_request(), true),
            ] {
                let theirs = subscriber_line(format, || access_http("web", &o));
                let ours = direct_line(|out, now| access::http_line(out, format, now, "web", &o));
                assert_same(format, &ours, &theirs, odd);
            }
        }
    }

    #[test]
    fn direct_tcp_lines_are_the_subscribers_bytes() {
        for format in [Format::Text, Format::Json] {
            for o in connections() {
                let theirs = subscriber_line(format, || access_tcp("pg", &o));
                let ours = direct_line(|out, now| access::tcp_line(out, format, now, "pg", &o));
                assert_same(format, &ours, &theirs, false);
            }
        }
    }

    #[test]
    fn the_documented_text_line() {
        let mut o = request();
        o.server = Some("10.0.1.5:8080");
        o.status = 200;
        o.bytes_out = 5120;
        let line = direct_line(|out, now| access::http_line(out, Format::Text, now, "web", &o));
        let (_, rest) = split_timestamp(&line, Format::Text);
        assert_eq!(
            rest,
            "  INFO lb::access: listener=web client=10.0.0.7:51234 method=GET \
             host=example.com path=/api/v2/x status=200 upstream=api server=10.0.1.5:8080 \
             duration_ms=3.172 bytes_in=0 bytes_out=5120\n"
        );
    }

    #[test]
    fn odd_values_stay_on_one_line_and_json_parses_back() {
        let o = odd_request();
        let text = direct_line(|out, now| access::http_line(out, Format::Text, now, "web", &o));
        assert_eq!(text.matches('\n').count(), 1);
        assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\r'));
        assert!(
            text.contains(r#"host=ex"am\ple\x09.com é 日本 \x1b[2J path="#),
            "{text}"
        );

        let json = direct_line(|out, now| access::http_line(out, Format::Json, now, "web", &o));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["host"], o.host);
        assert_eq!(v["path"], o.path);
        assert_eq!(v["bytes_in"], u64::MAX);
    }

    #[test]
    fn timestamps_match_the_subscribers() {
        for format in [Format::Text, Format::Json] {
            let before = direct_line(clock::write_timestamp);
            let line = subscriber_line(format, || access_http("web", &request()));
            let after = direct_line(clock::write_timestamp);
            let (theirs, _) = split_timestamp(&line, format);
            // Same shape (fixed width), so order of text is order of time:
            // the subscriber's instant lies between ours.
            assert_eq!(theirs.len(), before.len(), "{theirs} vs {before}");
            assert!(
                before <= theirs && theirs <= after,
                "{before} {theirs} {after}"
            );
            // And the date and time of day agree with ours at that second.
            let second = &theirs[..19];
            assert!(
                second == &before[..19] || second == &after[..19],
                "{before} {theirs} {after}"
            );
        }
    }

    /// Environment variable that turns [`child_logger`] on: `level|access_log|format`.
    const CHILD: &str = "LB_LOGGING_TEST_CHILD";

    /// Run in a child process by [`the_process_logger_writes_access_lines_directly`]
    /// (a global logger cannot be installed in the shared test process):
    /// installs the logger as `lb-server` does, says whether access lines go
    /// the direct way, logs one of each and exits. Does nothing otherwise.
    #[test]
    fn child_logger() {
        let Ok(spec) = std::env::var(CHILD) else {
            return;
        };
        let parts: Vec<&str> = spec.split('|').collect();
        let format = if parts[2] == "json" {
            Format::Json
        } else {
            Format::Text
        };
        let guard = init_with(parts[0], format, parts[1] == "true").unwrap();
        println!("direct={}", ACCESS.get().is_some());
        access_http("web", &odd_request());
        for o in connections() {
            access_tcp("pg", &o);
        }
        tracing::warn!(target: "lb_server::reload", "a warn line");
        drop(guard);
    }

    /// What [`child_logger`] reports and writes for a `[log]` section.
    fn run_child(level: &str, access_log: bool, format: Format) -> (bool, String) {
        let name = if format == Format::Json {
            "json"
        } else {
            "text"
        };
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "logging::tests::child_logger", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD, format!("{level}|{access_log}|{name}"))
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}");
        let direct = stdout.contains("direct=true");
        assert!(direct || stdout.contains("direct=false"), "{stdout}");
        (direct, String::from_utf8(out.stderr).unwrap())
    }

    #[test]
    fn the_process_logger_writes_access_lines_directly() {
        for format in [Format::Text, Format::Json] {
            let (direct, stderr) = run_child("warn", true, format);
            assert!(direct);
            let lines: Vec<String> = stderr.split_inclusive('\n').map(str::to_owned).collect();
            assert_eq!(lines.len(), 4, "{stderr}");
            let want = [
                direct_line(|out, now| access::http_line(out, format, now, "web", &odd_request())),
                direct_line(|out, now| access::tcp_line(out, format, now, "pg", &connections()[0])),
                direct_line(|out, now| access::tcp_line(out, format, now, "pg", &connections()[1])),
            ];
            for (got, want) in lines.iter().zip(&want) {
                assert_eq!(
                    split_timestamp(got, format).1,
                    split_timestamp(want, format).1
                );
            }
            assert!(lines[3].contains("a warn line"), "{stderr}");
        }
    }

    #[test]
    fn the_process_logger_honours_the_filter() {
        for (level, access_log, direct, lines) in [
            // Off: no access lines at all.
            ("info", false, false, false),
            ("info,lb::access=off", true, false, false),
            ("debug,lb::access=warn", true, false, false),
            // Named in `level`: as written.
            ("warn,lb::access=info", true, true, true),
            // Span or field directives: through the subscriber, as before.
            ("warn,[conn]=debug", true, false, true),
            ("warn,[conn]=debug", false, false, false),
            ("warn,lb::access=off,[conn]=debug", true, false, false),
        ] {
            let (got_direct, stderr) = run_child(level, access_log, Format::Json);
            let case = format!("level {level:?}, access_log {access_log}: {stderr}");
            assert_eq!(got_direct, direct, "{case}");
            assert_eq!(
                stderr.contains("\"target\":\"lb::access\""),
                lines,
                "{case}"
            );
            assert!(stderr.contains("a warn line"), "{case}");
        }
    }

    #[test]
    fn a_bad_level_names_the_key() {
        let err = filter("info,lb=[", true).unwrap_err();
        assert!(err.starts_with("log.level:"), "{err}");
    }
}
