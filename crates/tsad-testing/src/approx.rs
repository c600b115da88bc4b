//! Approximate comparisons of numbers and slices, with NaN equal to NaN.

/// Something [`assert_close`] can compare: a number or a slice of numbers.
pub trait Close {
    /// The values to compare, in order.
    fn values(&self) -> Vec<f64>;
}

impl Close for f64 {
    fn values(&self) -> Vec<f64> {
        vec![*self]
    }
}

impl Close for [f64] {
    fn values(&self) -> Vec<f64> {
        self.to_vec()
    }
}

impl Close for Vec<f64> {
    fn values(&self) -> Vec<f64> {
        self.clone()
    }
}

impl<const N: usize> Close for [f64; N] {
    fn values(&self) -> Vec<f64> {
        self.to_vec()
    }
}

impl<T: Close + ?Sized> Close for &T {
    fn values(&self) -> Vec<f64> {
        (**self).values()
    }
}

/// Asserts that `actual` and `expected` have the same length and that each pair of values is
/// within `tol`, absolutely or relatively: `|a - b| <= tol` or `|a - b| <= tol * max(|a|, |b|)`.
/// NaN equals NaN (and only NaN); equal infinities are equal.
///
/// # Panics
///
/// When they differ, naming the first differing index.
#[track_caller]
pub fn assert_close<A: Close + ?Sized, B: Close + ?Sized>(actual: &A, expected: &B, tol: f64) {
    let (a, b) = (actual.values(), expected.values());
    assert_eq!(
        a.len(),
        b.len(),
        "lengths differ: actual {} vs expected {}",
        a.len(),
        b.len()
    );
    for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
        let ok = if x.is_nan() || y.is_nan() {
            x.is_nan() && y.is_nan()
        } else if x == y {
            true
        } else {
            let d = (x - y).abs();
            d <= tol || d <= tol * x.abs().max(y.abs())
        };
        assert!(
            ok,
            "values differ at index {i}: actual {x} vs expected {y} (tolerance {tol})"
        );
    }
}

/// Asserts that two slices are identical bit for bit (so NaN equals NaN).
///
/// # Panics
///
/// When they differ, naming the first differing index and `what`.
#[track_caller]
pub fn assert_bits_eq(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (x, y)) in actual.iter().zip(expected).enumerate() {
        assert!(
            x.to_bits() == y.to_bits(),
            "{what}: index {i} differs: {x} vs {y}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_values_pass() {
        assert_close(&1.0, &(1.0 + 1e-10), 1e-9);
        assert_close(&[f64::NAN, 1e9][..], &[f64::NAN, 1e9 + 1.0][..], 1e-8);
        assert_close(&vec![0.0], &[1e-12], 1e-9);
    }

    #[test]
    #[should_panic(expected = "index 1")]
    fn far_values_fail() {
        assert_close(&[1.0, 2.0], &[1.0, 2.1], 1e-3);
    }

    #[test]
    #[should_panic(expected = "index 0")]
    fn nan_is_not_a_number() {
        assert_close(&f64::NAN, &0.0, 1.0);
    }
}
