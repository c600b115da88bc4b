//! Line numbers as a text editor shows them: `\n`, `\r\n` and a lone `\r` each end a line.
//!
//! csv's own positions are not these: they count only `\n`, and a record's is taken where the
//! previous record's one terminator byte ended, before the line breaks csv skips to reach the
//! record (the `\n` of a `\r\n`, blank lines). So they name the line before after a `\r\n` or
//! a blank line, and line 1 throughout a `\r`-only file.

use std::collections::VecDeque;
use std::io::{self, Read};

/// Whether `byte`, coming after `prev`, ends a line: a `\r`, or a `\n` that does not finish
/// a `\r\n` (whose line ended at the `\r`).
#[inline]
pub(crate) fn is_break(prev: u8, byte: u8) -> bool {
    byte == b'\r' || (byte == b'\n' && prev != b'\r')
}

/// The line breaks in `bytes`, which start the input or follow a whole line break.
pub(crate) fn count_breaks(bytes: &[u8]) -> u64 {
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&i| is_break(if i == 0 { 0 } else { bytes[i - 1] }, bytes[i]))
        .count() as u64
}

/// An input read through this keeps where its line breaks are, until they are passed, so
/// that the csv reader on top can tell the line of each record from its byte position.
#[derive(Debug)]
pub(crate) struct Lines<R> {
    inner: R,
    /// Bytes read through so far.
    read: u64,
    /// The last of them.
    last: u8,
    /// Line breaks read but not passed yet: where each starts, and its bytes (2 for `\r\n`).
    ahead: VecDeque<(u64, u64)>,
    /// Line breaks passed.
    passed: u64,
    /// Where the last break passed ends.
    passed_end: u64,
}

impl<R> Lines<R> {
    pub(crate) fn new(inner: R) -> Self {
        Lines {
            inner,
            read: 0,
            last: 0,
            ahead: VecDeque::new(),
            passed: 0,
            passed_end: 0,
        }
    }

    /// The line holding byte `at`. Queries go forward only: `at` is never below an earlier
    /// one's.
    pub(crate) fn line_at(&mut self, at: u64) -> u64 {
        while let Some(&(start, len)) = self.ahead.front()
            && start < at
        {
            self.ahead.pop_front();
            self.passed += 1;
            self.passed_end = start + len;
        }
        self.passed + 1
    }

    /// The line of the record csv placed at byte `at` (`csv::Position::byte`): csv skips the
    /// line breaks there before the record starts. The record must have been read, so that
    /// those breaks have been.
    pub(crate) fn record_line(&mut self, at: u64) -> u64 {
        self.line_at(at);
        // `at` may be the `\n` of a `\r\n` passed already.
        let mut end = self.passed_end.max(at);
        while let Some(&(start, len)) = self.ahead.front()
            && start == end
        {
            self.ahead.pop_front();
            self.passed += 1;
            end = start + len;
            self.passed_end = end;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bytes = &buf[..n];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            let at = self.read + i as u64;
            let prev = if i == 0 { self.last } else { bytes[i - 1] };
            if is_break(prev, bytes[i]) {
                self.ahead.push_back((at, 1));
            } else {
                // The `\n` of a `\r\n`: its `\r` (just before) holds the break.
                match self.ahead.back_mut() {
                    Some(cr) if cr.0 + 1 == at => cr.1 = 2,
                    _ if self.passed_end == at => self.passed_end += 1,
                    _ => {}
                }
            }
        }
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads the next record as [`csv::Reader::read_byte_record`] does, with the editor's line in
/// its position.
pub(crate) fn read_record<R: Read>(
    rdr: &mut csv::Reader<Lines<R>>,
    rec: &mut csv::ByteRecord,
) -> csv::Result<bool> {
    if !rdr.read_byte_record(rec)? {
        return Ok(false);
    }
    if let Some(mut position) = rec.position().cloned() {
        position.set_line(rdr.get_mut().record_line(position.byte()));
        rec.set_position(Some(position));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` through `Lines` in pieces of `piece` bytes, with the records' lines and
    /// the line of each record's last byte.
    fn lines(text: &[u8], piece: usize) -> Vec<(u64, u64)> {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(Lines::new(Pieces(text, piece)));
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while read_record(&mut rdr, &mut rec).unwrap() {
            let line = rec.position().unwrap().line();
            let end = rdr.position().byte() - 1;
            out.push((line, rdr.get_mut().line_at(end)));
        }
        out
    }

    #[test]
    fn records_are_on_the_editors_lines() {
        type Case = (&'static str, &'static [u8], &'static [(u64, u64)]);
        let cases: &[Case] = &[
            ("lf", b"a\nb\nc", &[(1, 1), (2, 2), (3, 3)]),
            ("crlf", b"a\r\nb\r\nc\r\n", &[(1, 1), (2, 2), (3, 3)]),
            ("cr", b"a\rb\rc\r", &[(1, 1), (2, 2), (3, 3)]),
            ("blank lines", b"\n\na\n\nb\n\n", &[(3, 3), (5, 5)]),
            ("blank crlf lines", b"\r\na\r\n\r\n\r\nb", &[(2, 2), (5, 5)]),
            ("blank cr lines", b"a\r\r\rb\r", &[(1, 1), (4, 4)]),
            ("mixed", b"a\r\n\r\r\n\nb\rc\n", &[(1, 1), (5, 5), (6, 6)]),
            (
                "one-byte rows",
                b"a\r\nb\rc\n\rd",
                &[(1, 1), (2, 2), (3, 3), (5, 5)],
            ),
            (
                "quoted line breaks",
                b"a\n\"b\r\n\nc\"\n\nd\n",
                &[(1, 1), (2, 4), (6, 6)],
            ),
            ("quoted cr", b"\"a\rb\"\r\nc", &[(1, 2), (3, 3)]),
        ];
        for (name, text, want) in cases {
            assert_eq!(count_breaks(text), count_breaks_slowly(text), "{name}");
            for piece in [1, 2, 3, 64] {
                assert_eq!(lines(text, piece), *want, "{name}, pieces of {piece}");
            }
        }
    }

    /// The line breaks, byte by byte.
    fn count_breaks_slowly(text: &[u8]) -> u64 {
        let mut prev = 0;
        let mut n = 0;
        for &b in text {
            n += u64::from(is_break(prev, b));
            prev = b;
        }
        n
    }
}
