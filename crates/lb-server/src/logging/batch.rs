//! A batched, lossy log writer: per-thread buffers that a flusher thread
//! merges into the destination.
//!
//! A request's thread appends its formatted line to its own buffer (a mutex
//! only the flusher ever contends) and goes on: no channel, no allocation per
//! line, no wake-up per line. The flusher thread (`lb-log`) wakes every
//! 100 ms, or when a buffer passes 32 KiB, swaps each buffer out and writes
//! the bytes to the destination. Each `write` call (one whole line, from
//! tracing-subscriber's fmt layer or from the direct access log path) lands
//! in one buffer and is written in one piece, so lines from different
//! threads never interleave.
//!
//! Lossy: if the destination is stuck and a thread's buffer reaches 4 MiB,
//! that thread's further lines are dropped (and counted) until the flusher
//! catches up. Dropping the [`BatchGuard`] writes out everything still
//! buffered and stops the flusher; lines logged after that are written
//! straight to the destination.

use std::cell::RefCell;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long dropping the guard waits for the flusher's last write before
/// giving up on a stuck destination.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Above this capacity the flusher's scratch buffer is given back rather
/// than kept for the next round.
const SCRATCH_KEEP: usize = 1024 * 1024;

/// Source of [`Shared::id`]: tells apart writers in the thread-local map.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's buffer for each writer it has logged through, by
    /// writer id. Usually a single entry.
    static LOCAL: RefCell<Vec<(u64, Arc<ThreadBuf>)>> = const { RefCell::new(Vec::new()) };
}

/// Tuning of a [`BatchWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    /// The flusher writes out buffers at least this often.
    pub(crate) interval: Duration,
    /// A buffer growing past this many bytes wakes the flusher early.
    pub(crate) wake_at: usize,
    /// A line that would take a thread's buffer past this many bytes is
    /// dropped.
    pub(crate) max_buffered: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            wake_at: 32 * 1024,
            max_buffered: 4 * 1024 * 1024,
        }
    }
}

/// One thread's pending bytes.
#[derive(Debug, Default)]
struct ThreadBuf {
    /// Whole lines not yet written to the destination.
    bytes: Mutex<Vec<u8>>,
}

impl ThreadBuf {
    /// Lock the bytes, ignoring poison (a `Vec<u8>` is always valid).
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// State shared by the writer handles, the flusher and the guard.
struct Shared {
    /// Key of this writer in the threads' [`LOCAL`] maps.
    id: u64,
    /// Tuning.
    cfg: Config,
    /// Every registered buffer, walked by the flusher.
    buffers: Mutex<Vec<Arc<ThreadBuf>>>,
    /// Used when a thread's own buffer is unavailable (its thread-local
    /// storage is being torn down); registered in `buffers`.
    fallback: Arc<ThreadBuf>,
    /// Where lines go; the flusher writes, others only after `closed`.
    destination: Mutex<Box<dyn Write + Send>>,
    /// The flusher, to wake it; set once it is spawned.
    flusher: OnceLock<Thread>,
    /// Lines dropped: buffer full, or the destination failed.
    dropped: AtomicU64,
    /// The flusher should do a last round and exit.
    stop: AtomicBool,
    /// No more buffering: lines go straight to the destination.
    closed: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("cfg", &self.cfg)
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Append one write's bytes to the calling thread's buffer.
    fn append(&self, data: &[u8]) {
        let done = LOCAL
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut list) => {
                    let buf = self.local(&mut list);
                    self.append_to(buf, data);
                    true
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        if !done {
            self.append_to(&self.fallback, data);
        }
    }

    /// This thread's buffer, registered with the flusher on first use.
    fn local<'l>(&self, list: &'l mut Vec<(u64, Arc<ThreadBuf>)>) -> &'l ThreadBuf {
        if let Some(i) = list.iter().position(|(id, _)| *id == self.id) {
            return &list[i].1;
        }
        // Entries of writers that are gone (no one else holds the buffer).
        list.retain(|(_, buf)| Arc::strong_count(buf) > 1);
        let buf = Arc::new(ThreadBuf::default());
        self.lock_buffers().push(Arc::clone(&buf));
        list.push((self.id, buf));
        let last = list.len() - 1;
        &list[last].1
    }

    /// Append to `buf`, or drop the line if `buf` is full, or write it
    /// straight out once closed.
    fn append_to(&self, buf: &ThreadBuf, data: &[u8]) {
        let mut bytes = buf.lock();
        // Checked under the buffer's lock: the last flush, which starts after
        // `closed` is set, takes this lock too, so a line is either in the
        // buffer before that flush or sees `closed`.
        if self.closed.load(Ordering::SeqCst) {
            drop(bytes);
            self.write_direct(data);
            return;
        }
        let before = bytes.len();
        if before + data.len() > self.cfg.max_buffered {
            drop(bytes);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        bytes.extend_from_slice(data);
        let after = bytes.len();
        drop(bytes);
        if before < self.cfg.wake_at && after >= self.cfg.wake_at {
            if let Some(flusher) = self.flusher.get() {
                flusher.unpark();
            }
        }
    }

    /// Write a line straight to the destination (after close).
    fn write_direct(&self, data: &[u8]) {
        let mut dest = self.lock_destination();
        if dest.write_all(data).and_then(|()| dest.flush()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One flusher round: swap each buffer out and write it.
    ///
    /// `snapshot` and `scratch` are the flusher's, kept between rounds.
    fn flush_all(&self, snapshot: &mut Vec<Arc<ThreadBuf>>, scratch: &mut Vec<u8>) {
        {
            let mut buffers = self.lock_buffers();
            // A buffer only the list holds belongs to a thread that has
            // exited: forget it once it is written out.
            buffers.retain(|buf| Arc::strong_count(buf) > 1 || !buf.lock().is_empty());
            snapshot.extend(buffers.iter().cloned());
        }
        let mut wrote = false;
        for buf in snapshot.drain(..) {
            scratch.clear();
            {
                let mut bytes = buf.lock();
                if bytes.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *bytes, scratch);
            }
            let mut dest = self.lock_destination();
            if dest.write_all(scratch).is_err() {
                let lines = scratch.iter().filter(|&&b| b == b'\n').count();
                self.dropped
                    .fetch_add(u64::try_from(lines).unwrap_or(u64::MAX), Ordering::Relaxed);
            }
            wrote = true;
        }
        if wrote {
            // Nothing to count on failure: the bytes were handed over.
            let _ = self.lock_destination().flush();
        }
        scratch.clear();
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
    }

    /// Lock the buffer list, ignoring poison.
    fn lock_buffers(&self) -> MutexGuard<'_, Vec<Arc<ThreadBuf>>> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lock the destination, ignoring poison.
    fn lock_destination(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.destination
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The flusher thread's loop: a round every interval or when woken, a last
/// round when told to stop, then tell the guard it is done.
fn run_flusher(shared: &Shared, done: &mpsc::Sender<()>) {
    let mut snapshot = Vec::new();
    let mut scratch = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        std::thread::park_timeout(shared.cfg.interval);
        shared.flush_all(&mut snapshot, &mut scratch);
    }
    shared.flush_all(&mut snapshot, &mut scratch);
    // The guard may have stopped waiting; nothing to do then.
    let _ = done.send(());
}

/// A [`MakeWriter`] whose lines are buffered per thread and written by the
/// `lb-log` thread. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct BatchWriter {
    /// State shared with the flusher and the guard.
    shared: Arc<Shared>,
}

impl BatchWriter {
    /// A writer to `destination` with the default [`Config`], and the guard
    /// that keeps its flusher running.
    ///
    /// # Errors
    /// The flusher thread cannot be spawned.
    pub(crate) fn new(destination: Box<dyn Write + Send>) -> io::Result<(Self, BatchGuard)> {
        Self::with_config(destination, Config::default())
    }

    /// [`BatchWriter::new`] with the tuning spelled out.
    ///
    /// # Errors
    /// As [`BatchWriter::new`].
    pub(crate) fn with_config(
        destination: Box<dyn Write + Send>,
        cfg: Config,
    ) -> io::Result<(Self, BatchGuard)> {
        let fallback = Arc::new(ThreadBuf::default());
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            cfg,
            buffers: Mutex::new(vec![Arc::clone(&fallback)]),
            fallback,
            destination: Mutex::new(destination),
            flusher: OnceLock::new(),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let (done_tx, done_rx) = mpsc::channel();
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("lb-log".into())
                .spawn(move || run_flusher(&shared, &done_tx))?
        };
        // Cannot be set already: `shared` is new.
        let _ = shared.flusher.set(flusher.thread().clone());
        let guard = BatchGuard {
            shared: Arc::clone(&shared),
            flusher: Some(flusher),
            done: done_rx,
        };
        Ok((Self { shared }, guard))
    }

    /// Lines dropped so far (buffer full or destination failing).
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = ThreadWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        ThreadWriter {
            shared: &self.shared,
        }
    }
}

/// The [`Write`] for one event: appends to the calling thread's buffer.
/// Each `write` call is kept whole.
#[derive(Debug)]
pub(crate) struct ThreadWriter<'a> {
    /// The writer's shared state.
    shared: &'a Shared,
}

impl Write for ThreadWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Keeps the flusher running; dropping it writes out everything buffered
/// and stops the flusher (waiting at most a few seconds for a stuck
/// destination).
#[must_use = "dropping the guard stops the log flusher"]
pub(crate) struct BatchGuard {
    /// State shared with the writers and the flusher.
    shared: Arc<Shared>,
    /// The flusher thread; taken on drop.
    flusher: Option<JoinHandle<()>>,
    /// The flusher's "last round done".
    done: mpsc::Receiver<()>,
}

impl std::fmt::Debug for BatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchGuard")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        // `closed` first: the flusher's last round, which starts after it
        // sees `stop`, then catches every line buffered before `closed`.
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        let Some(flusher) = self.flusher.take() else {
            return;
        };
        flusher.thread().unpark();
        match self.done.recv_timeout(SHUTDOWN_WAIT) {
            // Done, or the flusher panicked: either way it has exited or is
            // about to, so the join is immediate.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = flusher.join();
            }
            // The destination is stuck: leave the thread behind.
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// How long a test waits for something that should happen at once.
    const BOUND: Duration = Duration::from_secs(5);

    /// An in-memory destination.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>);

    impl Memory {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Memory {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A destination that reports each write on a channel.
    struct Reporting(mpsc::Sender<Vec<u8>>);

    impl Write for Reporting {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A destination whose first write says it has started, then blocks
    /// until the test drops the gate's sender.
    struct Blocking {
        entered: mpsc::Sender<()>,
        gate: mpsc::Receiver<()>,
        out: Memory,
    }

    impl Write for Blocking {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            // Returns (Err) once the sender is dropped.
            let _ = self.gate.recv();
            self.out.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(thread: usize, i: usize) -> String {
        format!("thread={thread} line={i} {}\n", "x".repeat(150))
    }

    #[test]
    fn lines_from_many_threads_all_arrive_whole_after_the_guard_drops() {
        const THREADS: usize = 8;
        const LINES: usize = 2000;
        let out = Memory::default();
        let cfg = Config {
            interval: Duration::from_millis(1),
            ..Config::default()
        };
        let (writer, guard) = BatchWriter::with_config(Box::new(out.clone()), cfg).unwrap();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..LINES {
                        writer
                            .make_writer()
                            .write_all(line(t, i).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);

        let text = out.text();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), THREADS * LINES);
        let want: HashSet<String> = (0..THREADS)
            .flat_map(|t| (0..LINES).map(move |i| line(t, i).trim_end().to_owned()))
            .collect();
        let got_set: HashSet<&str> = got.iter().copied().collect();
        assert_eq!(got_set.len(), THREADS * LINES, "duplicated lines");
        for l in &got {
            assert!(want.contains(*l), "split or garbled line: {l:?}");
        }
        // Each thread's lines stay in order.
        for t in 0..THREADS {
            let prefix = format!("thread={t} ");
            let order: Vec<&str> = got
                .iter()
                .copied()
                .filter(|l| l.starts_with(&prefix))
                .collect();
            let expect: Vec<String> = (0..LINES)
                .map(|i| line(t, i).trim_end().to_owned())
                .collect();
            assert_eq!(order, expect);
        }
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_line_arrives_without_dropping_the_guard() {
        let (tx, rx) = mpsc::channel();
        let (writer, _guard) = BatchWriter::new(Box::new(Reporting(tx))).unwrap();
        writer.make_writer().write_all(b"hello\n").unwrap();
        let got = rx.recv_timeout(BOUND).unwrap();
        assert_eq!(got, b"hello\n");
    }

    #[test]
    fn a_full_buffer_wakes_the_flusher_before_its_interval() {
        let (tx, rx) = mpsc::channel();
        let cfg = Config {
            // Never, for this test: only the wake-up can deliver.
            interval: Duration::from_secs(3600),
            wake_at: 1024,
            ..Config::default()
        };
        let (writer, _guard) = BatchWriter::with_config(Box::new(Reporting(tx)), cfg).unwrap();
        let mut one = vec![b'a'; 99];
        one.push(b'\n');
        let mut w = writer.make_writer();
        for _ in 0..10 {
            w.write_all(&one).unwrap();
        }
        // 1000 bytes: under the threshold, nothing wakes the flusher.
        assert!(rx.try_recv().is_err());
        w.write_all(&one).unwrap();
        let got = rx.recv_timeout(BOUND).unwrap();
        assert_eq!(got.len(), 1100);
    }

    #[test]
    fn lines_over_the_limit_are_dropped_and_counted_while_the_destination_blocks() {
        let (entered_tx, entered) = mpsc::channel();
        let (gate_tx, gate) = mpsc::channel::<()>();
        let out = Memory::default();
        let dest = Blocking {
            entered: entered_tx,
            gate,
            out: out.clone(),
        };
        let cfg = Config {
            interval: Duration::from_millis(1),
            wake_at: 32 * 1024,
            max_buffered: 64 * 1024,
        };
        let (writer, guard) = BatchWriter::with_config(Box::new(dest), cfg).unwrap();
        let mut w = writer.make_writer();
        w.write_all(b"first\n").unwrap();
        // The flusher has taken "first" and is stuck writing it.
        entered.recv_timeout(BOUND).unwrap();

        // 1 KiB lines: 64 fit in the buffer, the next 10 do not.
        let mut kib = vec![b'y'; 1023];
        kib.push(b'\n');
        for _ in 0..74 {
            w.write_all(&kib).unwrap();
        }
        assert_eq!(writer.dropped(), 10);

        drop(gate_tx);
        drop(guard);
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 65);
        assert_eq!(lines[0], "first");
        assert!(lines[1..].iter().all(|l| l.len() == 1023));
        assert_eq!(writer.dropped(), 10);
    }

    #[test]
    fn lines_after_the_guard_drops_go_straight_out() {
        let out = Memory::default();
        let (writer, guard) = BatchWriter::new(Box::new(out.clone())).unwrap();
        writer.make_writer().write_all(b"before\n").unwrap();
        drop(guard);
        assert_eq!(out.text(), "before\n");
        writer.make_writer().write_all(b"after\n").unwrap();
        assert_eq!(out.text(), "before\nafter\n");
    }

    #[test]
    fn writers_do_not_mix_their_lines() {
        let (a_out, b_out) = (Memory::default(), Memory::default());
        let (a, a_guard) = BatchWriter::new(Box::new(a_out.clone())).unwrap();
        let (b, b_guard) = BatchWriter::new(Box::new(b_out.clone())).unwrap();
        a.make_writer().write_all(b"to a\n").unwrap();
        b.make_writer().write_all(b"to b\n").unwrap();
        drop((a_guard, b_guard));
        assert_eq!(a_out.text(), "to a\n");
        assert_eq!(b_out.text(), "to b\n");
    }
}
