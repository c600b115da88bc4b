//! Reading a large file on every core: the input is cut into blocks of whole lines, the
//! blocks of a round are parsed in parallel while the next round is read, and what they
//! collected is appended in file order, so every point, line number, warning and error is the
//! one a sequential read gives.
//!
//! A line break inside a quoted cell would make a false cut, so the first block holding a
//! quote ends the parallel part: it and the rest of the input are read sequentially. So does a
//! block whose parse fails (an error, or a series that stops on a bad cell): it is read again
//! with the rest, so that its error is the sequential one.

use super::{Fields, IngestError, Plan, State};
use crate::lines::is_break;
use std::io::{self, Cursor, Read};

/// When and how to cut the input.
#[derive(Debug, Clone)]
pub(crate) struct Chunking {
    /// Inputs smaller than this are read sequentially (threads do not pay).
    pub(crate) min_bytes: usize,
    /// Bytes per block (a block then runs on to the end of its last line).
    pub(crate) block: usize,
    /// Cut even a small input, even with one thread (tests).
    pub(crate) force: bool,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            min_bytes: 1 << 20,
            block: 2 << 20,
            force: false,
        }
    }
}

/// Reads the whole input (`head`, then `rest`) into `state`.
pub(super) fn read<R: Read>(
    plan: &Plan<'_>,
    state: &mut State,
    head: Vec<u8>,
    rest: R,
    chunking: &Chunking,
) -> Result<(), IngestError> {
    let threads = rayon::current_num_threads();
    let mut blocks = Blocks {
        reader: rest,
        carry: head,
        eof: false,
        error: None,
        spare: Vec::new(),
    };
    blocks.fill(chunking.min_bytes);
    let small = blocks.eof && blocks.carry.len() < chunking.min_bytes;
    if !chunking.force && (threads < 2 || small) {
        state.read_csv(plan, blocks.into_reader(Vec::new()), 0, true)?;
        return Ok(());
    }
    let per_round = threads.max(2);
    let mut lines = 0;
    let mut header_given = false;
    // Blocks parsed but not appended yet: appending one round overlaps the next one's parse.
    let mut parsed: Option<(Vec<Vec<u8>>, Vec<PieceSlot>)> = None;
    // Small blocks first, so the threads start soon, then doubling up to the full size.
    // The first round takes at least what is held already, which is not then copied on.
    let mut size = (chunking.block / 8)
        .max(blocks.carry.len() / per_round)
        .min(chunking.block)
        .max(1);
    let mut round = blocks.round(per_round, size);
    loop {
        if state.fields.is_none()
            && let Some(first) = round.clean.first()
            && memchr::memchr(b'"', first).is_none()
        {
            state.fields = first_record_len(plan, first);
        }
        let fields = state.fields;
        // Only the very first block may skip the header; appending checks that it did.
        let skip = state.skip_header && !header_given;
        header_given = true;
        let mut pieces: Vec<PieceSlot> = round.clean.iter().map(|_| None).collect();
        let mut next = None;
        let mut stop = None;
        rayon::in_place_scope(|s| {
            for (k, (bytes, slot)) in round.clean.iter().zip(pieces.iter_mut()).enumerate() {
                s.spawn(move |_| *slot = Some(read_piece(plan, bytes, fields, skip && k == 0)));
            }
            // Meanwhile, on this thread (the reader need not be `Send`): append the round
            // before, and read the next.
            if let Some((done, slots)) = parsed.take() {
                stop = append(state, done, slots, &mut lines, &mut blocks.spare);
            }
            if stop.is_none() && round.tail.is_none() && !round.clean.is_empty() {
                size = (size * 2).min(chunking.block);
                next = Some(blocks.round(per_round, size));
            }
        });
        match (stop, next) {
            (Some(mut tail), _) => {
                // Read on sequentially from the block that could not be appended: its error
                // (or its failed series, or its quoted cells) is then exactly the
                // sequential one, even where that looks past the block's end.
                tail.extend(round.clean.into_iter().flatten());
                tail.extend(round.tail.unwrap_or_default());
                state.read_csv(plan, blocks.into_reader(tail), lines, true)?;
                return Ok(());
            }
            (None, None) => {
                // The last round (or one cut short by a read error): append it now.
                let rest = append(state, round.clean, pieces, &mut lines, &mut blocks.spare);
                if rest.is_none() && round.tail.is_none() {
                    return Ok(());
                }
                let mut tail = rest.unwrap_or_default();
                tail.extend(round.tail.unwrap_or_default());
                state.read_csv(plan, blocks.into_reader(tail), lines, true)?;
                return Ok(());
            }
            (None, Some(r)) => {
                parsed = Some((round.clean, pieces));
                round = r;
            }
        }
    }
}

/// A block's parse, once its task ran.
type PieceSlot = Option<Result<Piece, IngestError>>;

/// Appends parsed blocks in file order, handing their buffers to `spare`. At the first that
/// cannot be appended, returns it and the blocks after it, joined, to be read sequentially.
fn append(
    state: &mut State,
    blocks: Vec<Vec<u8>>,
    slots: Vec<PieceSlot>,
    lines: &mut u64,
    spare: &mut Vec<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut blocks = blocks.into_iter();
    for slot in slots {
        match slot {
            Some(Ok(p)) if state.can_absorb(&p) => {
                spare.extend(blocks.next());
                let n = p.lines;
                state.absorb(p, *lines);
                *lines += n;
            }
            _ => return Some(blocks.flatten().collect()),
        }
    }
    None
}

/// The fields of the first record of `bytes` (a block without quotes).
fn first_record_len(plan: &Plan<'_>, bytes: &[u8]) -> Option<usize> {
    let mut rec = csv::ByteRecord::new();
    match plan.csv_reader(bytes).read_byte_record(&mut rec) {
        Ok(true) => Some(rec.len()),
        _ => None,
    }
}

/// What one block collected, its lines counted from 1.
pub(super) struct Piece {
    pub(super) state: State,
    /// Line breaks in the block.
    pub(super) lines: u64,
    /// Whether the block was told to skip the header (it was the first).
    pub(super) skip_header: bool,
}

fn read_piece(
    plan: &Plan<'_>,
    bytes: &[u8],
    fields: Option<usize>,
    skip_header: bool,
) -> Result<Piece, IngestError> {
    let mut state = State::new(plan);
    if state.targets.len() <= 4 {
        // Room for a row every 16 bytes up front: growing by doubling copied each vector
        // about once more.
        let rows = bytes.len() / 16;
        for t in &mut state.targets {
            t.c.timestamps.reserve(rows);
            t.c.values.reserve(rows);
        }
    }
    state.fields = fields;
    state.skip_header = skip_header;
    let lines = state.read_plain(plan, bytes)?;
    Ok(Piece {
        state,
        lines,
        skip_header,
    })
}

/// Blocks read so far: those to parse in parallel, and where sequential reading takes over.
struct Round {
    clean: Vec<Vec<u8>>,
    /// What was read before a read error: read sequentially, then the error.
    tail: Option<Vec<u8>>,
}

/// The input cut into blocks that end with a line break.
struct Blocks<R> {
    reader: R,
    /// Bytes read but not handed out yet.
    carry: Vec<u8>,
    eof: bool,
    /// The read error that ended the input, handed on after the bytes before it.
    error: Option<io::Error>,
    /// Blocks parsed already, to read into again.
    spare: Vec<Vec<u8>>,
}

impl<R: Read> Blocks<R> {
    /// Reads until `carry` holds `n` bytes or the input ends.
    fn fill(&mut self, n: usize) {
        while self.carry.len() < n && !self.eof && self.error.is_none() {
            let want = (n - self.carry.len()).max(64 << 10);
            // Room first (within reason: `n` may be "everything"): `read_to_end` would grow the
            // buffer by doubling, copying it.
            self.carry.reserve(want.min(8 << 20));
            match (&mut self.reader)
                .take(want as u64)
                .read_to_end(&mut self.carry)
            {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// The next block: about `size` bytes, up to and with the line break that ends a row
    /// (both bytes of a `\r\n`), or the rest of the input; `None` at its end. `Err` holds the
    /// bytes read before a read error.
    ///
    /// A block never ends between the `\r` and the `\n` of a `\r\n`, so each block's line
    /// breaks can be counted alone (a `\n` first in a block is a line of its own), and a
    /// reader starting afresh on a block counts lines as the one reading on would.
    fn block(&mut self, size: usize) -> Result<Option<Vec<u8>>, Vec<u8>> {
        let is_end = |b: u8| b == b'\n' || b == b'\r';
        // The block ends at the first row end at or after `from`.
        let mut from = size.max(1) - 1;
        loop {
            self.fill(from + 2);
            let found =
                memchr::memchr2_iter(b'\n', b'\r', self.carry.get(from..).unwrap_or_default())
                    .map(|i| from + i)
                    .find(|&i| i > 0 && !is_end(self.carry[i - 1]));
            if let Some(i) = found {
                let mut end = i + 1;
                if self.carry[i] == b'\r' {
                    self.fill(end + 1);
                    end += usize::from(self.carry.get(end) == Some(&b'\n'));
                }
                // The rest goes on in a buffer used before: fresh pages cost a fault each.
                let mut rest = self.spare.pop().unwrap_or_default();
                rest.clear();
                rest.extend_from_slice(&self.carry[end..]);
                self.carry.truncate(end);
                return Ok(Some(std::mem::replace(&mut self.carry, rest)));
            }
            if self.error.is_some() {
                return Err(std::mem::take(&mut self.carry));
            }
            if self.eof {
                let last = std::mem::take(&mut self.carry);
                return Ok((!last.is_empty()).then_some(last));
            }
            // A row longer than what is held: search only what comes next.
            from = from.max(self.carry.len());
        }
    }

    /// Up to `n` blocks; stops at a read error.
    fn round(&mut self, n: usize, size: usize) -> Round {
        let mut clean = Vec::with_capacity(n);
        while clean.len() < n {
            match self.block(size) {
                Ok(Some(b)) => clean.push(b),
                Ok(None) => break,
                Err(read) => {
                    return Round {
                        clean,
                        tail: Some(read),
                    };
                }
            }
        }
        Round { clean, tail: None }
    }

    /// `first`, then what is left of the input (ending with its read error, if any).
    fn into_reader(self, first: Vec<u8>) -> impl Read {
        let rest = match self.error {
            Some(e) => Rest::Failed(Some(e)),
            None => Rest::Reader(self.reader),
        };
        Cursor::new(first)
            .chain(Cursor::new(self.carry))
            .chain(rest)
    }
}

/// The input after the bytes held: the reader, or the read error that ended it (once).
enum Rest<R> {
    Reader(R),
    Failed(Option<io::Error>),
}

impl<R: Read> Read for Rest<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Rest::Reader(r) => r.read(buf),
            Rest::Failed(e) => match e.take() {
                Some(e) => Err(e),
                None => Ok(0),
            },
        }
    }
}

/// The high bit of each byte of `x` that is zero, exactly (no borrow runs into the next).
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The end of the row that starts at `at` (its first `\r` or `\n`, or the end of `bytes`),
/// pushing where each `d` in it is (from `at`) onto `ends`, and whether the row holds a quote;
/// eight bytes at a time.
fn scan_row(bytes: &[u8], at: usize, d: u8, ends: &mut Vec<usize>) -> (usize, bool) {
    let [delimiter, newline, cr, quote] =
        [d, b'\n', b'\r', b'"'].map(|b| u64::from_le_bytes([b; 8]));
    let mut i = at;
    let mut quoted = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        let mut hits = zero_bytes(x ^ delimiter);
        let mut quotes = zero_bytes(x ^ quote);
        let stops = zero_bytes(x ^ newline) | zero_bytes(x ^ cr);
        if stops != 0 {
            // Only what comes before the row's end (bits below its byte's high bit).
            let before = (1u64 << stops.trailing_zeros()) - 1;
            hits &= before;
            quotes &= before;
        }
        quoted |= quotes;
        while hits != 0 {
            ends.push(i - at + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
        if stops != 0 {
            return (i + (stops.trailing_zeros() / 8) as usize, quoted != 0);
        }
        i += 8;
    }
    for (k, &b) in bytes[i..].iter().enumerate() {
        if b == b'\n' || b == b'\r' {
            return (i + k, quoted != 0);
        }
        if b == d {
            ends.push(i + k - at);
        }
        quoted |= u64::from(b == b'"');
    }
    (bytes.len(), quoted != 0)
}

/// A row of a block without quotes: its bytes and where each field ends.
struct Plain<'a> {
    row: &'a [u8],
    ends: &'a [usize],
}

impl Fields for Plain<'_> {
    fn field(&self, j: usize) -> Option<&[u8]> {
        let end = *self.ends.get(j)?;
        let start = match j {
            0 => 0,
            _ => self.ends[j - 1] + 1,
        };
        Some(&self.row[start..end])
    }
}

impl State {
    /// Whether a block's parse can be appended as it is: no series stopped in it, and it
    /// skipped the header exactly when the header was still to skip.
    fn can_absorb(&self, p: &Piece) -> bool {
        p.skip_header == self.skip_header && p.state.targets.iter().all(|t| t.failed.is_none())
    }

    /// Reads a block without quotes as csv would, without csv's state machine and copies: a
    /// row runs to the next `\r` or `\n`, empty rows are skipped, and a row's line is the
    /// one its first byte is on ([`crate::lines`]). Returns the line breaks read. A row of the
    /// wrong length is an error without detail: the caller reads the block again with csv for
    /// the exact one.
    fn read_plain(&mut self, plan: &Plan<'_>, bytes: &[u8]) -> Result<u64, IngestError> {
        let delimiter = plan.layout.delimiter;
        let is_end = |b: u8| b == b'\n' || b == b'\r';
        let mut ends = Vec::with_capacity(8);
        let (mut line, mut at) = (1u64, 0);
        loop {
            // The row's line break and the blank lines after it (the block starts after a
            // whole line break, as a row ends before one).
            let mut prev = 0;
            while at < bytes.len() && is_end(bytes[at]) {
                line += u64::from(is_break(prev, bytes[at]));
                prev = bytes[at];
                at += 1;
            }
            if at == bytes.len() {
                return Ok(line - 1);
            }
            let position = line;
            ends.clear();
            let (end, quoted) = scan_row(bytes, at, delimiter, &mut ends);
            if quoted {
                // A line break may be quoted: the block's cut may be false. The caller reads
                // sequentially from here.
                return Err(IngestError::Csv {
                    source_name: plan.source.to_owned(),
                    line: position,
                    message: "quoted".to_owned(),
                });
            }
            let row = &bytes[at..end];
            ends.push(row.len());
            at = end;
            if *self.fields.get_or_insert(ends.len()) != ends.len() {
                return Err(IngestError::Csv {
                    source_name: plan.source.to_owned(),
                    line: position,
                    message: "row length".to_owned(),
                });
            }
            self.record(plan, &Plain { row, ends: &ends }, position)?;
        }
    }

    /// Appends a block's parse; `lines` line breaks came before the block.
    fn absorb(&mut self, p: Piece, lines: u64) {
        let mut piece = p.state;
        if self.parser.is_none() {
            // A row-index time axis: the block counted its rows from 0.
            let before = self.rows_read as i64;
            for t in &mut piece.targets {
                t.c.timestamps.iter_mut().for_each(|ts| *ts += before);
            }
        }
        self.rows_read += piece.rows_read;
        self.skip_header = piece.skip_header;
        for (t, from) in self.targets.iter_mut().zip(piece.targets) {
            if t.failed.is_none() {
                t.c.append(from.c, lines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::read_buffered;
    use super::*;
    use crate::demo::{DemoParams, generate, write_csv};
    use crate::{ColumnRef, IngestOptions, SeriesLayout};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn opts() -> IngestOptions {
        IngestOptions {
            source_name: Some("data.csv".into()),
            ..IngestOptions::default()
        }
    }

    /// Everything a read gives (series, diagnostics, warnings, or the error), as text.
    fn outcome(bytes: &[u8], o: &IngestOptions, chunking: &Chunking) -> String {
        format!("{:?}", read_buffered(bytes, o, chunking))
    }

    /// Reads `bytes` sequentially and cut into blocks of each size, and checks that every
    /// read gives the sequential outcome; returns it.
    fn same_as_sequential(name: &str, bytes: &[u8], o: &IngestOptions, sizes: &[usize]) -> String {
        let sequential = Chunking {
            min_bytes: usize::MAX,
            ..Chunking::default()
        };
        let want = outcome(bytes, o, &sequential);
        for &block in sizes {
            let cut = Chunking {
                min_bytes: 0,
                block,
                force: true,
            };
            let got = outcome(bytes, o, &cut);
            assert!(
                got == want,
                "{name}, blocks of {block} bytes:\n got: {}\nwant: {}",
                &got[..got.len().min(2000)],
                &want[..want.len().min(2000)]
            );
        }
        want
    }

    const SIZES: &[usize] = &[1, 2, 3, 5, 8, 13, 31, 64, 100, 257, 1000, 4096];

    fn demo(points: usize) -> Vec<u8> {
        let d = generate(&DemoParams {
            points,
            ..DemoParams::default()
        })
        .unwrap();
        let mut out = Vec::new();
        write_csv(&d, &mut out).unwrap();
        out
    }

    fn crlf(bytes: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(bytes)
            .replace('\n', "\r\n")
            .into_bytes()
    }

    /// Replaces the `n`th data row's value (its second field) with `cell`.
    fn with_value(bytes: &[u8], n: usize, cell: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(bytes);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let fields: Vec<&str> = lines[n].split(',').collect();
        lines[n] = format!("{},{cell},{}", fields[0], fields[2]);
        (lines.join("\n") + "\n").into_bytes()
    }

    #[test]
    fn blocks_give_the_sequential_series_and_diagnostics() {
        let lf = demo(300);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("demo", lf.clone()),
            ("crlf", crlf(&lf)),
            (
                "cr only",
                String::from_utf8_lossy(&lf)
                    .replace('\n', "\r")
                    .into_bytes(),
            ),
            ("no final line break", lf[..lf.len() - 1].to_vec()),
            ("bad cell in a later block", with_value(&lf, 250, "abc")),
            ("bad cells", with_value(&with_value(&lf, 3, "x"), 290, "1e")),
            (
                "missing values",
                with_value(&with_value(&lf, 100, ""), 200, "NA"),
            ),
            (
                "blank lines",
                String::from_utf8_lossy(&lf)
                    .replacen("\n", "\n\n\n", 40)
                    .replace(",0\n2024-01-03", ",0\r\n\r\n\n2024-01-03")
                    .into_bytes(),
            ),
            (
                "quoted cells",
                String::from_utf8_lossy(&lf)
                    .replace("2024-01-05T03:00:00Z", "\"2024-01-05T03:00:00Z\"")
                    .into_bytes(),
            ),
            (
                "quote in the first line",
                String::from_utf8_lossy(&lf)
                    .replace("timestamp,", "\"timestamp\",")
                    .into_bytes(),
            ),
            (
                "multi-line quoted label",
                String::from_utf8_lossy(&lf)
                    .replacen(",0\n2024-01-09T01", ",\"0\n\"\n2024-01-09T01", 1)
                    .into_bytes(),
            ),
            ("header only", b"timestamp,value\n".to_vec()),
            ("header only, crlf", b"timestamp,value\r\n".to_vec()),
            ("one row", b"timestamp,value\n2014-07-01,1\n".to_vec()),
        ];
        for (name, bytes) in &cases {
            same_as_sequential(name, bytes, &opts(), SIZES);
        }
        // The bad cell is reported at its line, from whichever block held it.
        let got = same_as_sequential("line", &with_value(&lf, 250, "abc"), &opts(), SIZES);
        assert!(got.contains("line: 251"), "{got}");
    }

    #[test]
    fn blocks_give_the_sequential_errors() {
        let lf = demo(300);
        let mut wrong_length = String::from_utf8_lossy(&lf).into_owned();
        wrong_length = wrong_length.replacen(",0\n2024-01-10T05", ",0,7\n2024-01-10T05", 1);
        let mut not_utf8 = lf.clone();
        let at = not_utf8.len() - 40;
        let line_start = not_utf8[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        not_utf8[line_start] = 0xE9;
        let mostly_bad = {
            // Past the sample (201 lines), which must still show a numeric value column.
            let mut t = demo(700);
            for n in 205..=700 {
                t = with_value(&t, n, "oops");
            }
            t
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("infinite", with_value(&lf, 260, "inf"), "line: 261"),
            (
                "infinite, crlf",
                crlf(&with_value(&lf, 260, "1e999")),
                "InfiniteValue",
            ),
            ("row length", wrong_length.into_bytes(), "RowLength"),
            ("time not utf-8", not_utf8, "NotUtf8"),
            ("mostly not numbers", mostly_bad, "NotANumber"),
            (
                "quote left open late",
                String::from_utf8_lossy(&lf)
                    .replacen(",0\n2024-01-11T00", ",\"0\n2024-01-11T00", 1)
                    .into_bytes(),
                "UnclosedQuote",
            ),
        ];
        for (name, bytes, want) in &cases {
            let got = same_as_sequential(name, bytes, &opts(), SIZES);
            assert!(got.contains("Err(") && got.contains(want), "{name}: {got}");
        }
    }

    #[test]
    fn a_block_may_end_exactly_at_a_line_end() {
        let text = b"timestamp,value\n2014-07-01,1\n2014-07-02,x\n2014-07-03,3\n2014-07-03,4\n";
        let ends: Vec<usize> = (0..text.len()).filter(|&i| text[i] == b'\n').collect();
        // A block of `end + 1` bytes ends at that line break exactly.
        let sizes: Vec<usize> = ends.iter().map(|e| e + 1).collect();
        let got = same_as_sequential("line ends", text, &opts(), &sizes);
        assert!(got.contains("line: 3"), "{got}");
        let crlf = crlf(text);
        let sizes: Vec<usize> = (1..crlf.len()).collect();
        same_as_sequential("line ends, crlf", &crlf, &opts(), &sizes);
    }

    /// A file's lines with each `\n` replaced by `end`.
    fn ended(text: &str, end: &str) -> Vec<u8> {
        text.replace('\n', end).into_bytes()
    }

    /// Line numbers are the ones a text editor shows (`\n`, `\r\n` and a lone `\r` each end a
    /// line), read whole or cut into blocks: csv's positions named the line before after a
    /// `\r\n` or a blank line, and line 1 throughout a `\r`-only file.
    #[test]
    fn lines_are_counted_as_an_editor_counts_them() {
        // (name, file with `\n` line ends, the rejected row's line)
        let cases: &[(&str, &str, u64)] = &[
            (
                "plain",
                "t,v\n2014-07-01,1\n2014-07-02,abc\n2014-07-03,3\n",
                3,
            ),
            (
                "a blank line before",
                "t,v\n2014-07-01,1\n\n2014-07-02,abc\n2014-07-03,3\n",
                4,
            ),
            (
                "blank lines before the header",
                "\n\nt,v\n2014-07-01,1\n2014-07-02,abc\n2014-07-03,3\n",
                5,
            ),
            (
                "trailing blank lines",
                "t,v\n2014-07-01,1\n2014-07-02,abc\n2014-07-03,3\n\n\n",
                3,
            ),
            (
                "byte order mark",
                "\u{feff}t,v\n2014-07-01,1\n2014-07-02,abc\n2014-07-03,3\n",
                3,
            ),
            (
                "quoted bad cell",
                "t,v\n2014-07-01,1\n2014-07-02,\"abc\"\n2014-07-03,3\n",
                3,
            ),
            (
                "after a quoted cell over two lines",
                "t,v,n\n2014-07-01,1,\"a\nb\"\n2014-07-02,abc,c\n2014-07-03,3,d\n",
                4,
            ),
            (
                "in a row over two lines",
                "t,v,n\n2014-07-01,1,a\n2014-07-02,abc,\"b\n\nc\"\n2014-07-03,3,d\n",
                3,
            ),
            (
                "late in the file",
                "t,v\n2014-07-01,1\n2014-07-02,2\n2014-07-03,3\n2014-07-04,4\n2014-07-05,5\n\
                 \n2014-07-06,6\n2014-07-07,7\n2014-07-08,abc\n2014-07-09,9\n",
                10,
            ),
        ];
        let sequential = Chunking {
            min_bytes: usize::MAX,
            ..Chunking::default()
        };
        for &(name, text, want) in cases {
            for (ends, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
                let bytes = ended(text, end);
                let name = format!("{name}, {ends}");
                same_as_sequential(&name, &bytes, &opts(), SIZES);
                let got = read_buffered(bytes.as_slice(), &opts(), &sequential)
                    .and_then(|f| f.into_single())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let lines: Vec<u64> = got
                    .diagnostics
                    .rejected_rows
                    .iter()
                    .map(|r| r.line)
                    .collect();
                assert_eq!(lines, [want], "{name}");
            }
        }
        // A mix of line ends, and blank lines of each kind.
        let mixed = b"t,v\r\n2014-07-01,1\n\r\r\n\n2014-07-02,2\r2014-07-03,abc\r\n2014-07-04,4\n";
        let got = same_as_sequential("mixed", mixed, &opts(), SIZES);
        assert!(got.contains("line: 7"), "{got}");
    }

    /// Errors name the editor's line too, read whole or in blocks.
    #[test]
    fn errors_name_the_editors_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "infinite",
                "t,v\n2014-07-01,1\n\n2014-07-02,inf\n2014-07-03,3\n",
                "InfiniteValue { source_name: \"data.csv\", line: 4,",
            ),
            (
                "row length",
                "t,v\n2014-07-01,1\n\n2014-07-02,2,9\n2014-07-03,3\n",
                "RowLength { source_name: \"data.csv\", line: 4,",
            ),
            (
                "quote closed lines later, then a blank line",
                "t,v,n\n2014-07-01,1,a\n\n2014-07-02,\"2\n\nx\ny\",b\n\n2014-07-05,5,e\n",
                "UnclosedQuote { source_name: \"data.csv\", line: 4, column: Some(\"v\"), until: \
                 Some(7) }",
            ),
            (
                "quote closed lines later, row length",
                "t,v\n2014-07-01,1\n\n2014-07-02,\"2\n\n2014-07-03,3\n2014-07-04\",4\n2014-07-05,5\n",
                "UnclosedQuote { source_name: \"data.csv\", line: 4, column: None, until: Some(7) }",
            ),
        ];
        for &(name, text, want) in cases {
            for (ends, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
                let name = format!("{name}, {ends}");
                let got = same_as_sequential(&name, &ended(text, end), &opts(), SIZES);
                assert!(got.contains(want), "{name}:\n got: {got}\nwant: {want}");
            }
        }
    }

    #[test]
    fn blocks_keep_order_duplicates_and_the_row_axis() {
        // Out of order, with repeated timestamps on both sides of many cuts.
        let mut text = String::from("timestamp,value,extra\n");
        for i in 0..200 {
            let t = (i * 7) % 50;
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!("2014-07-01T{:02}:{:02}:00,{i},{}\n", t / 60, t % 60, i % 3),
            );
        }
        same_as_sequential("unsorted duplicates", text.as_bytes(), &opts(), SIZES);
        let mut runs = String::from("timestamp,value\n");
        for i in 0..200 {
            let _ = std::fmt::Write::write_fmt(
                &mut runs,
                format_args!("{},{i}\n", 1_404_172_800 + (i / 4) * 60),
            );
        }
        same_as_sequential("runs of duplicates", runs.as_bytes(), &opts(), SIZES);
        let no_time = IngestOptions {
            no_time_column: true,
            ..opts()
        };
        same_as_sequential(
            "row axis",
            &with_value(&demo(250), 99, "?"),
            &no_time,
            SIZES,
        );
        let covariates = IngestOptions {
            covariate_columns: vec![ColumnRef::from("is_anomaly")],
            ..opts()
        };
        same_as_sequential("covariates", &demo(250), &covariates, SIZES);
        let mut bad_covariate = String::from_utf8_lossy(&demo(250)).into_owned();
        bad_covariate = bad_covariate.replacen(",0\n2024-01-10T05", ",q\n2024-01-10T05", 1);
        same_as_sequential(
            "bad covariate",
            bad_covariate.as_bytes(),
            &covariates,
            SIZES,
        );
    }

    #[test]
    fn wide_files_fail_one_series_at_its_line() {
        let mut text = String::from("time,a,b\n");
        for i in 0..300 {
            let b = if i == 260 {
                "inf".to_owned()
            } else {
                ((i * 37) % 101).to_string()
            };
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!("{},{},{b}\n", 1_404_172_800 + i * 60, i * 2),
            );
        }
        let wide = IngestOptions {
            series: SeriesLayout::Wide(vec![ColumnRef::from("a"), ColumnRef::from("b")]),
            ..opts()
        };
        let got = same_as_sequential("wide", text.as_bytes(), &wide, SIZES);
        assert!(
            got.contains("InfiniteValue") && got.contains("line: 262"),
            "{got}"
        );
    }

    #[test]
    fn rows_are_scanned_eight_bytes_at_a_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let alphabet = [
            b',', b'a', 0x80, 0xAC, b'\t', 0xFF, b'\n', b'\r', 0x0B, 0x8A,
        ];
        for len in 0..90 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            for at in 0..=len {
                for d in [b',', b'\t', b';'] {
                    let end = (at..len)
                        .find(|&i| bytes[i] == b'\n' || bytes[i] == b'\r')
                        .unwrap_or(len);
                    let want: Vec<usize> = (at..end)
                        .filter(|&i| bytes[i] == d)
                        .map(|i| i - at)
                        .collect();
                    let quoted = bytes[at..end].contains(&b'"');
                    let mut got = Vec::new();
                    assert_eq!(
                        scan_row(&bytes, at, d, &mut got),
                        (end, quoted),
                        "{bytes:?} {at}"
                    );
                    assert_eq!(got, want, "{bytes:?} {at} {d}");
                }
            }
        }
    }

    #[test]
    fn random_files_read_alike_in_blocks() {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        for case in 0..80 {
            let ends: &[&str] = &["\n", "\r\n", "\r", "\n\n", "\r\n\r\n"];
            let mut text = String::from("timestamp,value\n");
            let rows = rng.random_range(1..400);
            for i in 0..rows {
                let t = if rng.random_range(0..10) == 0 {
                    rng.random_range(0..rows)
                } else {
                    i
                };
                let value = match rng.random_range(0..30) {
                    0 => "x".to_owned(),
                    1 => String::new(),
                    2 => "NaN".to_owned(),
                    3 => " 7.5 ".to_owned(),
                    4 if rng.random_range(0..40) == 0 => "1,2".to_owned(),
                    _ => format!("{}", rng.random_range(-1000..1000) as f64 / 8.0),
                };
                let time = match rng.random_range(0..60) {
                    0 => "never".to_owned(),
                    _ => format!("{}", 1_404_172_800 + t * 60),
                };
                let end = ends[rng.random_range(0..ends.len())];
                text.push_str(&format!("{time},{value}{end}"));
            }
            let sizes: Vec<usize> = (0..6).map(|_| rng.random_range(1..200)).collect();
            same_as_sequential(&format!("random {case}"), text.as_bytes(), &opts(), &sizes);
        }
    }
}
