//! A streaming scanner for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
//!
//! The proxy forwards chunked bodies verbatim; this scanner only finds where the
//! body ends and rejects framing that two peers could read differently (request
//! smuggling). It works on any split of the input, runs in O(n) over the framing
//! bytes, and skips chunk data in O(1) per call.

use std::fmt;

/// Most hex digits in a chunk size; 16 fill a `u64`, so the size cannot overflow.
const MAX_SIZE_DIGITS: u8 = 16;
/// Most bytes of chunk extensions per chunk: from the end of the size up to the CR.
const MAX_EXT_LEN: u16 = 4096;
/// Most bytes of the trailer section, line ends included, final empty line excluded.
const MAX_TRAILER_LEN: u16 = 16384;

/// Where a chunked body ends, found as its bytes stream past.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkedScanner {
    /// Where in the grammar the next byte falls.
    state: State,
}

/// The result of scanning one piece of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Every byte of the input belongs to the body, and the body goes on.
    More,
    /// The body ends after the first `n` bytes of the input (the rest belongs
    /// to what follows: e.g. a pipelined message).
    Done(usize),
}

/// Malformed chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkedError(&'static str);

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed chunked body: {}", self.0)
    }
}

impl std::error::Error for ChunkedError {}

/// Position in the chunked grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk size: `digits` hex digits so far, worth `size`.
    Size { digits: u8, size: u64 },
    /// Spaces or tabs after the size (`ext` bytes so far); a `;` must follow.
    SizeWs { size: u64, ext: u16 },
    /// In chunk extensions, `ext` bytes so far.
    Ext { size: u64, ext: u16 },
    /// After the CR that ends a chunk-size line.
    SizeLf { size: u64 },
    /// In chunk data, `left` (> 0) bytes to go.
    Data { left: u64 },
    /// After chunk data: a CR must come.
    DataCr,
    /// After the CR that follows chunk data.
    DataLf,
    /// At the start of a trailer line or of the final empty line; `len` trailer bytes so far.
    TrailerStart { len: u16 },
    /// In a trailer line, `len` trailer bytes so far.
    TrailerLine { len: u16 },
    /// After the CR that ends a trailer line.
    TrailerLf { len: u16 },
    /// After the CR of the final empty line.
    EndLf,
    /// The body is over.
    Done,
    /// The framing was malformed; every later call reports the same error.
    Failed(ChunkedError),
}

impl Default for State {
    fn default() -> Self {
        State::Size { digits: 0, size: 0 }
    }
}

impl ChunkedScanner {
    /// A scanner at the start of a chunked body.
    #[must_use]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Scan the next bytes of the body.
    ///
    /// # Errors
    /// A [`ChunkedError`] when the framing is malformed; the scanner then
    /// keeps returning that error.
    pub(crate) fn scan(&mut self, input: &[u8]) -> Result<Scan, ChunkedError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok(Scan::Done(pos)),
                State::Failed(e) => return Err(e),
                _ if pos == input.len() => return Ok(Scan::More),
                State::Data { left } => {
                    let avail = input.len() - pos;
                    let take = usize::try_from(left).map_or(avail, |l| l.min(avail));
                    pos += take;
                    // `take <= left`, so the cast is lossless and cannot underflow.
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                }
                state => {
                    self.state = step(state, input[pos]).unwrap_or_else(State::Failed);
                    pos += 1;
                }
            }
        }
    }

    /// True once the terminating empty line after the last chunk (and
    /// trailers) was seen.
    #[must_use]
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

/// The state after byte `b` in `state` (`Done` and `Failed` stay as they are).
fn step(state: State, b: u8) -> Result<State, ChunkedError> {
    let err = |why| Err(ChunkedError(why));
    Ok(match state {
        State::Size { digits, size } => match (char::from(b).to_digit(16), b) {
            (Some(_), _) if digits == MAX_SIZE_DIGITS => {
                return err("chunk size has more than 16 hex digits")
            }
            (Some(d), _) => State::Size {
                digits: digits + 1,
                size: size << 4 | u64::from(d),
            },
            (None, _) if digits == 0 => return err("chunk size is not a hex number"),
            (None, b' ' | b'\t') => State::SizeWs { size, ext: 1 },
            (None, b';') => State::Ext { size, ext: 1 },
            (None, b'\r') => State::SizeLf { size },
            (None, _) => return err("invalid byte after chunk size"),
        },
        State::SizeWs { size, ext } => match b {
            b' ' | b'\t' => State::SizeWs {
                size,
                ext: grow_ext(ext)?,
            },
            b';' => State::Ext {
                size,
                ext: grow_ext(ext)?,
            },
            _ => return err("whitespace after chunk size not followed by ';'"),
        },
        State::Ext { size, ext } => match b {
            b'\r' => State::SizeLf { size },
            b'\t' | b' '..=b'~' => State::Ext {
                size,
                ext: grow_ext(ext)?,
            },
            _ => return err("invalid byte in chunk extension"),
        },
        State::SizeLf { size } => match (b, size) {
            (b'\n', 0) => State::TrailerStart { len: 0 },
            (b'\n', left) => State::Data { left },
            _ => return err("chunk-size line not ended by CRLF"),
        },
        State::DataCr if b == b'\r' => State::DataLf,
        State::DataLf if b == b'\n' => State::default(),
        State::DataCr | State::DataLf => return err("chunk data not followed by CRLF"),
        State::TrailerStart { len } => match b {
            b'\r' => State::EndLf,
            b'\n' | 0 => return err("invalid byte in trailer section"),
            _ => State::TrailerLine {
                len: grow_trailer(len)?,
            },
        },
        State::TrailerLine { len } => match b {
            b'\r' => State::TrailerLf {
                len: grow_trailer(len)?,
            },
            b'\n' | 0 => return err("invalid byte in trailer section"),
            _ => State::TrailerLine {
                len: grow_trailer(len)?,
            },
        },
        State::TrailerLf { len } if b == b'\n' => State::TrailerStart {
            len: grow_trailer(len)?,
        },
        State::TrailerLf { .. } => return err("trailer line not ended by CRLF"),
        State::EndLf if b == b'\n' => State::Done,
        State::EndLf => return err("chunked body not ended by CRLF"),
        // `scan` skips data in bulk; this is the same, one byte at a time.
        State::Data { left: 0 | 1 } => State::DataCr,
        State::Data { left } => State::Data { left: left - 1 },
        State::Done | State::Failed(_) => state,
    })
}

/// One more chunk-extension byte, within [`MAX_EXT_LEN`].
fn grow_ext(ext: u16) -> Result<u16, ChunkedError> {
    if ext < MAX_EXT_LEN {
        Ok(ext + 1)
    } else {
        Err(ChunkedError("chunk extensions too long"))
    }
}

/// One more trailer byte, within [`MAX_TRAILER_LEN`].
fn grow_trailer(len: u16) -> Result<u16, ChunkedError> {
    if len < MAX_TRAILER_LEN {
        Ok(len + 1)
    } else {
        Err(ChunkedError("trailer section too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What scanning a whole input came to, whatever its split.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        /// The body ended after this many bytes of the whole input.
        Done(usize),
        /// All bytes belong to an unfinished body.
        More,
        /// Malformed framing.
        Err(ChunkedError),
    }

    /// Scans `input` cut at the sorted positions `cuts`.
    fn scan_split(input: &[u8], cuts: &[usize]) -> Outcome {
        let mut scanner = ChunkedScanner::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([input.len()]) {
            match scanner.scan(&input[start..end]) {
                Ok(Scan::More) => assert!(!scanner.is_done()),
                Ok(Scan::Done(n)) => {
                    assert!(n <= end - start);
                    assert!(scanner.is_done());
                    assert_eq!(scanner.scan(b"more"), Ok(Scan::Done(0)));
                    return Outcome::Done(start + n);
                }
                Err(e) => {
                    assert_eq!(scanner.scan(b"0\r\n\r\n"), Err(e), "error is sticky");
                    return Outcome::Err(e);
                }
            }
            start = end;
        }
        Outcome::More
    }

    /// Scans `input` whole, then one byte at a time; both must agree.
    fn scan_both(input: &[u8]) -> Outcome {
        let whole = scan_split(input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(scan_split(input, &bytewise), whole, "input {input:?}");
        whole
    }

    const VALID: &[&[u8]] = &[
        b"0\r\n\r\n",
        b"000\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n",
        b"A\r\n0123456789\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\n0\r\n\r\n",
        b"1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n",
        b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
        b"5 ;a=\"q s\"\t; b\r\nhello\r\n0\t;x\r\n\r\n",
        b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n",
        b"5\r\n0\r\n\r\n\r\n0\r\n\r\n",
        b"0000000000000005\r\nhello\r\n0\r\n\r\n",
    ];

    #[test]
    fn valid_bodies_end_exactly() {
        for body in VALID {
            assert_eq!(scan_both(body), Outcome::Done(body.len()), "{body:?}");
            let mut next = body.to_vec();
            next.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(scan_both(&next), Outcome::Done(body.len()), "{body:?}");
            for cut in 0..body.len() {
                assert_eq!(scan_both(&body[..cut]), Outcome::More, "{body:?} {cut}");
            }
        }
    }

    #[test]
    fn huge_size_is_accepted_and_skipped() {
        let mut s = ChunkedScanner::new();
        assert_eq!(s.scan(b"FFFFFFFFFFFFFFFF\r\n"), Ok(Scan::More));
        assert_eq!(s.scan(&[b'x'; 1000]), Ok(Scan::More));
        assert_eq!(
            s.state,
            State::Data {
                left: u64::MAX - 1000
            }
        );
    }

    #[test]
    fn invalid_bodies_are_rejected() {
        let invalid: &[&[u8]] = &[
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"5\r\nhello\r\n0\r\n\r\r",
            b"5\rxhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello0\r\n\r\n",
            b"5\r\nhello\rX0\r\n\r\n",
            b"g\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"00000000000000005\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"\r\n5\r\nhello\r\n0\r\n\r\n",
            b"\r\n",
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"5;a\x7f\r\nhello\r\n0\r\n\r\n",
            b"5;a\xc3\xa9\r\nhello\r\n0\r\n\r\n",
            b"5;a\nhello\r\n0\r\n\r\n",
            b"0\r\nX-A: 1\nX-B: 2\r\n\r\n",
            b"0\r\nX-A: \x00\r\n\r\n",
            b"0\r\nX-A: 1\rX\r\n\r\n",
        ];
        for body in invalid {
            assert!(
                matches!(scan_both(body), Outcome::Err(_)),
                "accepted {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn extension_and_trailer_limits() {
        let ext = |n: usize| {
            let mut b = b"1".to_vec();
            b.push(b';');
            b.resize(1 + n, b'a');
            b.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            b
        };
        assert!(matches!(scan_both(&ext(4096)), Outcome::Done(_)));
        assert!(matches!(scan_both(&ext(4097)), Outcome::Err(_)));

        let trailer = |n: usize| {
            // One line of `n` bytes counting its CRLF.
            let mut b = b"0\r\nX: ".to_vec();
            b.resize(3 + n - 2, b'v');
            b.extend_from_slice(b"\r\n\r\n");
            b
        };
        assert!(matches!(scan_both(&trailer(16384)), Outcome::Done(_)));
        assert!(matches!(scan_both(&trailer(16385)), Outcome::Err(_)));
    }

    #[test]
    fn error_displays_reason() {
        let e = ChunkedScanner::new().scan(b"z").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed chunked body: chunk size is not a hex number"
        );
    }

    /// A valid chunked encoding of the given parts.
    fn encode(
        chunks: &[(Vec<u8>, String)],
        upper: bool,
        zeros: usize,
        trailers: &[String],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for (data, ext) in chunks {
            let size = if upper {
                format!("{:X}", data.len())
            } else {
                format!("{:x}", data.len())
            };
            out.extend_from_slice(size.as_bytes());
            out.extend_from_slice(ext.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice("0".repeat(zeros).as_bytes());
        out.extend_from_slice(b"\r\n");
        for t in trailers {
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Random valid bodies.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let chunk = (
            prop::collection::vec(any::<u8>(), 1..300),
            prop_oneof![
                Just(String::new()),
                "[ \t]{0,2};[ \t]?[a-z]{1,6}(=[a-z0-9\"]{0,6})?"
            ],
        );
        (
            prop::collection::vec(chunk, 0..6),
            any::<bool>(),
            1usize..4,
            prop::collection::vec("[A-Za-z-]{1,10}:[ -~]{0,20}", 0..3),
        )
            .prop_map(|(chunks, upper, zeros, trailers)| encode(&chunks, upper, zeros, &trailers))
    }

    /// Sorted cut positions within `0..=len`, from random picks.
    fn cuts(picks: &[usize], len: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = picks.iter().map(|p| p % (len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: prop::test_runner::RngSeed::Fixed(0x6831_636f_6465_6321),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn any_split_finds_the_end(
            body in body(),
            tail in prop::collection::vec(any::<u8>(), 0..40),
            picks in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut input = body.clone();
            input.extend_from_slice(&tail);
            let cuts = cuts(&picks, input.len());
            prop_assert_eq!(scan_split(&input, &cuts), Outcome::Done(body.len()));
        }

        #[test]
        fn mutations_never_panic_and_ignore_splits(
            body in body(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            picks in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut input = body;
            for (at, byte) in edits {
                let at = at % input.len();
                input[at] = byte;
            }
            let whole = scan_split(&input, &[]);
            prop_assert_eq!(scan_split(&input, &cuts(&picks, input.len())), whole);
        }
    }
}
