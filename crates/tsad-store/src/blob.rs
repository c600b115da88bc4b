//! Per-point arrays as little-endian BLOBs: `f64`/`i64` as 8 bytes each, flags as one byte.

use crate::StorageError;

pub(crate) fn encode_f64(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn encode_i64(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(crate) fn encode_flags(flags: &[bool]) -> Vec<u8> {
    flags.iter().map(|f| u8::from(*f)).collect()
}

fn chunks8<'a>(
    bytes: &'a [u8],
    what: &str,
) -> Result<impl Iterator<Item = [u8; 8]> + 'a, StorageError> {
    if !bytes.len().is_multiple_of(8) {
        return Err(StorageError::corrupt(format!(
            "array `{what}` has {} bytes, not a multiple of 8",
            bytes.len()
        )));
    }
    // chunks_exact(8) yields 8-byte slices, so the conversion cannot fail.
    Ok(bytes
        .chunks_exact(8)
        .map(|c| <[u8; 8]>::try_from(c).expect("chunk of 8")))
}

pub(crate) fn decode_f64(bytes: &[u8], what: &str) -> Result<Vec<f64>, StorageError> {
    Ok(chunks8(bytes, what)?.map(f64::from_le_bytes).collect())
}

pub(crate) fn decode_i64(bytes: &[u8], what: &str) -> Result<Vec<i64>, StorageError> {
    Ok(chunks8(bytes, what)?.map(i64::from_le_bytes).collect())
}

pub(crate) fn decode_flags(bytes: &[u8], what: &str) -> Result<Vec<bool>, StorageError> {
    bytes
        .iter()
        .map(|b| match b {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(StorageError::corrupt(format!(
                "array `{what}` holds the byte {other}, not a flag"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keep_every_bit() {
        let f = vec![0.0, -1.5, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE];
        let back = decode_f64(&encode_f64(&f), "f").unwrap();
        assert_eq!(
            f.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let i = vec![i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX];
        assert_eq!(decode_i64(&encode_i64(&i), "i").unwrap(), i);
        let b = vec![true, false, true];
        assert_eq!(decode_flags(&encode_flags(&b), "b").unwrap(), b);
    }

    #[test]
    fn damaged_blobs_are_corrupt_not_panics() {
        let cases: [(&str, Result<(), StorageError>); 3] = [
            ("short f64", decode_f64(&[0; 7], "x").map(|_| ())),
            ("short i64", decode_i64(&[0; 9], "x").map(|_| ())),
            ("bad flag", decode_flags(&[0, 2], "x").map(|_| ())),
        ];
        for (name, r) in cases {
            assert!(matches!(r, Err(StorageError::Corrupt { .. })), "{name}");
        }
    }
}
