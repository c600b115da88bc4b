//! What the bytes are before they are CSV: UTF-16 text (decoded to UTF-8 as it streams), a
//! binary file (refused), and quotes left open in the sample.

use crate::lines::{count_breaks, is_break};
use std::io::{self, Read};

/// The byte order of UTF-16 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf16 {
    Le,
    Be,
}

impl Utf16 {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Utf16::Le => "UTF-16 (little-endian)",
            Utf16::Be => "UTF-16 (big-endian)",
        }
    }
}

/// UTF-16 by its byte-order mark, or, without one, by the NUL byte beside every ASCII
/// character of the first line (what a spreadsheet's "Unicode text" export looks like).
pub(crate) fn detect_utf16(head: &[u8]) -> Option<Utf16> {
    match head {
        [0xFF, 0xFE, ..] => return Some(Utf16::Le),
        [0xFE, 0xFF, ..] => return Some(Utf16::Be),
        _ => {}
    }
    let pairs: Vec<&[u8]> = head.chunks_exact(2).take(32).collect();
    if pairs.len() < 4 {
        return None;
    }
    // Most units, not all: a first line may hold a few letters beyond ASCII (`température`).
    let ascii = |b: u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let most = |n: usize| n * 4 >= pairs.len() * 3;
    if most(pairs.iter().filter(|p| p[1] == 0 && ascii(p[0])).count()) {
        Some(Utf16::Le)
    } else if most(pairs.iter().filter(|p| p[0] == 0 && ascii(p[1])).count()) {
        Some(Utf16::Be)
    } else {
        None
    }
}

/// Decodes UTF-16 from `inner` into UTF-8, streaming; a byte-order mark is dropped and a lone
/// surrogate becomes U+FFFD (which then fails as a cell like any other odd text).
#[derive(Debug)]
pub(crate) struct Utf16Reader<R> {
    inner: R,
    order: Utf16,
    /// Bytes read but not decoded yet (an odd byte, or a high surrogate waiting for its pair).
    pending: Vec<u8>,
    /// Decoded UTF-8 not handed out yet.
    out: Vec<u8>,
    out_at: usize,
    started: bool,
    eof: bool,
}

impl<R: Read> Utf16Reader<R> {
    pub(crate) fn new(inner: R, order: Utf16) -> Self {
        Utf16Reader {
            inner,
            order,
            pending: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            started: false,
            eof: false,
        }
    }

    fn unit(&self, b: &[u8]) -> u16 {
        match self.order {
            Utf16::Le => u16::from_le_bytes([b[0], b[1]]),
            Utf16::Be => u16::from_be_bytes([b[0], b[1]]),
        }
    }

    /// Decodes what can be decoded from `pending` into `out`.
    fn decode(&mut self) {
        self.out.clear();
        self.out_at = 0;
        let mut units: Vec<u16> = self.pending.chunks_exact(2).map(|b| self.unit(b)).collect();
        let mut keep = self.pending.len() % 2;
        // A high surrogate at the end may pair with the next read's first unit.
        if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            units.pop();
            keep += 2;
        }
        if !self.started && !units.is_empty() {
            if units[0] == 0xFEFF {
                units.remove(0);
            }
            self.started = true;
        }
        let mut buf = [0u8; 4];
        for ch in char::decode_utf16(units) {
            let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
            self.out
                .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        let tail = self.pending.len() - keep;
        self.pending.drain(..tail);
        if self.eof && !self.pending.is_empty() {
            // An odd trailing byte.
            self.out
                .extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
            self.pending.clear();
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_at == self.out.len() {
            if self.eof && self.pending.is_empty() {
                return Ok(0);
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.eof = true;
            }
            self.pending.extend_from_slice(&chunk[..n]);
            self.decode();
        }
        let n = buf.len().min(self.out.len() - self.out_at);
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

/// [`IngestError::Binary`] when the sample of `source` is not text (see [`binary`]).
pub(crate) fn reject_binary(sample: &[u8], source: &str) -> Result<(), crate::IngestError> {
    match binary(sample) {
        Some((kind, line, byte)) => Err(crate::IngestError::Binary {
            source_name: source.to_owned(),
            kind,
            line,
            byte,
        }),
        None => Ok(()),
    }
}

/// Why the sample is not text, if it is not: a known binary signature, or a NUL byte, or
/// more than one control byte in twenty. Returns the kind (when known), the 1-based line and
/// the first byte text would not hold.
pub(crate) fn binary(sample: &[u8]) -> Option<(Option<&'static str>, u64, u8)> {
    let kind = if sample.starts_with(b"\x1f\x8b") {
        Some("a gzip archive: decompress it first")
    } else if sample.starts_with(b"PK\x03\x04") {
        Some("a ZIP archive, such as an .xlsx workbook: export the sheet as CSV")
    } else if sample.starts_with(b"%PDF") {
        Some("a PDF document")
    } else if sample.starts_with(b"SQLite format 3\0") {
        Some("an SQLite database")
    } else {
        None
    };
    let control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)) || b == 0x7F;
    let head = &sample[..sample.len().min(64 << 10)];
    let controls = head.iter().filter(|&&b| control(b)).count();
    let has_nul = head.contains(&0);
    if kind.is_none() && !has_nul && controls * 20 <= head.len() {
        return None;
    }
    let at = head
        .iter()
        .position(|&b| b == 0)
        .or_else(|| head.iter().position(|&b| control(b)))
        .unwrap_or(0);
    let line = count_breaks(&head[..at]) + 1;
    Some((kind, line, head.get(at).copied().unwrap_or(0)))
}

/// A quote left open at the end of `bytes` (read as csv does: a quote opens a cell only as
/// its first character, and `""` inside a quoted cell is a quote). Returns the 1-based line
/// and the 0-based field where it opens, and the last line of `bytes`.
pub(crate) fn open_quote(bytes: &[u8], delimiter: u8) -> Option<(u64, usize, u64)> {
    let mut line = 1u64;
    let mut field = 0usize;
    let mut at_start = true;
    let mut quoted: Option<(u64, usize)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let (prev, b) = (if i == 0 { 0 } else { bytes[i - 1] }, bytes[i]);
        if quoted.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = None;
                }
            } else if is_break(prev, b) {
                line += 1;
            }
        } else if b == b'"' && at_start {
            quoted = Some((line, field));
        } else if b == delimiter {
            field += 1;
            at_start = true;
            i += 1;
            continue;
        } else if b == b'\n' || b == b'\r' {
            line += u64::from(is_break(prev, b));
            field = 0;
            at_start = true;
            i += 1;
            continue;
        }
        at_start = false;
        i += 1;
    }
    quoted.map(|(l, f)| (l, f, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, order: Utf16, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
        for u in units {
            out.extend_from_slice(&match order {
                Utf16::Le => u.to_le_bytes(),
                Utf16::Be => u.to_be_bytes(),
            });
        }
        out
    }

    #[test]
    fn utf16_decodes_with_and_without_bom() {
        let text = "timestamp;température 🌡\n2014-07-01;12,5\n";
        for (order, bom) in [
            (Utf16::Le, true),
            (Utf16::Be, true),
            (Utf16::Le, false),
            (Utf16::Be, false),
        ] {
            let bytes = utf16(text, order, bom);
            assert_eq!(detect_utf16(&bytes), Some(order), "{order:?} {bom}");
            // One byte at a time, so pairs and surrogates straddle reads.
            struct Slow<'a>(&'a [u8]);
            impl Read for Slow<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    let n = self.0.len().min(1).min(buf.len());
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut got = String::new();
            Utf16Reader::new(Slow(&bytes), order)
                .read_to_string(&mut got)
                .unwrap();
            assert_eq!(got, text, "{order:?} {bom}");
        }
        assert_eq!(detect_utf16(b"timestamp,value\n"), None);
        // A lone surrogate and an odd last byte become U+FFFD.
        let mut bad = utf16("a", Utf16::Le, true);
        bad.extend_from_slice(&[0x00, 0xD8, b'b', 0, 0x41]);
        let mut got = String::new();
        Utf16Reader::new(bad.as_slice(), Utf16::Le)
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn binary_files_are_told_from_text() {
        assert_eq!(binary(b"timestamp,value\n2014-07-01,1\n"), None);
        assert_eq!(binary("température,\u{e9}\n".as_bytes()), None);
        assert_eq!(binary(&[0u8; 5000]), Some((None, 1, 0)));
        assert_eq!(binary(b"a,b\n1,2\x00\n"), Some((None, 2, 0)));
        assert!(
            binary(b"\x1f\x8b\x08\x00")
                .unwrap()
                .0
                .unwrap()
                .contains("gzip")
        );
        assert!(
            binary(b"PK\x03\x04abc")
                .unwrap()
                .0
                .unwrap()
                .contains("xlsx")
        );
        let noisy: Vec<u8> = (0..200u8)
            .map(|i| if i % 5 == 0 { 1 } else { b'a' })
            .collect();
        assert_eq!(binary(&noisy), Some((None, 1, 1)));
    }

    #[test]
    fn open_quotes_are_found_where_they_open() {
        type Case = (&'static str, &'static [u8], Option<(u64, usize, u64)>);
        let cases: &[Case] = &[
            ("closed", b"a,b\n1,\"2\"\n3,4\n", None),
            ("escaped quote", b"a,b\n1,\"x\"\"y\"\n", None),
            ("open", b"a,b\n1,2\n3,\"4\n5,6\n", Some((3, 1, 5))),
            ("open first field", b"a,b\n\"1,2\n3,4", Some((2, 0, 3))),
            ("mid-field quote is text", b"a,b\n1,2\"\n3,4\n", None),
            ("multi-line closed", b"a,b\n1,\"x\ny\"\n", None),
            ("crlf", b"a,b\r\n1,2\r\n\"3,4\r\n", Some((3, 0, 4))),
            ("cr", b"a,b\r1,2\r\"3,4\r", Some((3, 0, 4))),
            (
                "crlf inside a closed quote",
                b"a,b\r\n1,\"x\r\ny\"\r\n\r\n\"3\r\n",
                Some((5, 0, 6)),
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(open_quote(bytes, b','), *want, "{name}");
        }
    }
}
