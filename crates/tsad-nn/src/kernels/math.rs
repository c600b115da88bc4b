//! Dense building blocks: row-major GEMM on `faer` (a safe front end over the `gemm` crate),
//! vectorisable `exp`/sigmoid/tanh, and runtime SIMD dispatch for element-wise loops.

use faer::{Accum, MatMut, MatRef, Par};

/// Whether a GEMM overwrites or adds to its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acc {
    /// `C = A·B`.
    Replace,
    /// `C += A·B`.
    Add,
}

impl From<Acc> for Accum {
    fn from(a: Acc) -> Self {
        match a {
            Acc::Replace => Accum::Replace,
            Acc::Add => Accum::Add,
        }
    }
}

/// `C (m×n) (+)= A (m×k) · B (k×n)`, all row-major and contiguous.
///
/// `faer` was measured faster than `matrixmultiply` for every shape the LSTM uses (it has
/// AVX-512 kernels; see the crate README), and unlike calling `gemm` directly it needs no
/// `unsafe`, which the workspace forbids.
#[inline]
pub(crate) fn matmul(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, acc: Acc) {
    debug_assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if acc == Acc::Replace {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let a = MatRef::from_row_major_slice(&a[..m * k], m, k);
    let b = MatRef::from_row_major_slice(&b[..k * n], k, n);
    let c = MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    faer::linalg::matmul::matmul(c, acc.into(), a, b, 1.0f32, Par::Seq);
}

/// `C (m×n) (+)= Aᵀ · B` where `A` is `k×m` and `B` is `k×n`, row-major: the weight-gradient
/// product `Xᵀ·dZ`, summed over all `k` rows (every time step of every window) in one call.
#[inline]
pub(crate) fn matmul_tn(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    k: usize,
    m: usize,
    n: usize,
    acc: Acc,
) {
    debug_assert!(c.len() >= m * n && a.len() >= k * m && b.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if acc == Acc::Replace {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let a = MatRef::from_row_major_slice(&a[..k * m], k, m).transpose();
    let b = MatRef::from_row_major_slice(&b[..k * n], k, n);
    let c = MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    faer::linalg::matmul::matmul(c, acc.into(), a, b, 1.0f32, Par::Seq);
}

/// Writes the transpose of the `rows×cols` row-major `src` into `dst` (`cols×rows`), in
/// 16×16 tiles so that both sides stay in cache lines already loaded.
pub(crate) fn transpose(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    const T: usize = 16;
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for c in c0..(c0 + T).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// Runs `op` compiled for the best instruction set this CPU has (AVX2+FMA when present), so
/// that the plain loops inside auto-vectorise. `op`'s `with_simd` and everything it calls must
/// be `#[inline(always)]`: a closure would not do, since it is compiled (and not inlined)
/// without the target features.
#[inline(always)]
pub(crate) fn simd<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}

/// `acc += row` for every `acc.len()`-wide row of `rows` (bias gradients, sums over steps,
/// the chunk-gradient reduction).
#[derive(Debug)]
pub(crate) struct AddRows<'a> {
    pub(crate) acc: &'a mut [f32],
    pub(crate) rows: &'a [f32],
}

impl pulp::WithSimd for AddRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        // Blocks of 64 columns: the partial sums stay in registers while every row streams
        // by, instead of loading and storing `acc` once per row.
        const B: usize = 64;
        let w = self.acc.len();
        if w == 0 {
            return;
        }
        let mut start = 0;
        while start < w {
            let end = (start + B).min(w);
            let mut part = [0.0f32; B];
            let part = &mut part[..end - start];
            for row in self.rows.chunks_exact(w) {
                for (p, r) in part.iter_mut().zip(&row[start..end]) {
                    *p += r;
                }
            }
            for (a, p) in self.acc[start..end].iter_mut().zip(part.iter()) {
                *a += p;
            }
            start = end;
        }
    }
}

/// `row += bias` for every `bias.len()`-wide row of `rows`.
#[derive(Debug)]
pub(crate) struct AddBias<'a> {
    pub(crate) rows: &'a mut [f32],
    pub(crate) bias: &'a [f32],
}

impl pulp::WithSimd for AddBias<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let w = self.bias.len();
        if w == 0 {
            return;
        }
        for row in self.rows.chunks_exact_mut(w) {
            for (v, b) in row.iter_mut().zip(self.bias) {
                *v += b;
            }
        }
    }
}

/// `v *= factor` for every entry.
#[derive(Debug)]
pub(crate) struct Scale<'a> {
    pub(crate) v: &'a mut [f32],
    pub(crate) factor: f32,
}

impl pulp::WithSimd for Scale<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for x in self.v.iter_mut() {
            *x *= self.factor;
        }
    }
}

/// Hyperbolic tangent as Eigen's rational approximation (odd degree-13 numerator over even
/// degree-6 denominator, clamped to ±7.905 where it rounds to ±1): absolute error below 3e-7,
/// branch-free so that loops over slices vectorise (the `libm` call does not, and would
/// dominate an LSTM step). Measured 40% faster here than `1 - 2/(e^{2x}+1)` with a Cephes
/// `exp`, since it needs no integer tricks and one division.
#[inline(always)]
// The coefficients are Eigen's as published; their last digits round away in f32.
#[allow(clippy::excessive_precision)]
pub(crate) fn tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = -2.760_768_4e-16_f32;
    p = p.mul_add(x2, 2.000_187_9e-13);
    p = p.mul_add(x2, -8.604_671_5e-11);
    p = p.mul_add(x2, 5.122_297e-8);
    p = p.mul_add(x2, 1.485_722_4e-5);
    p = p.mul_add(x2, 6.372_619_3e-4);
    p = p.mul_add(x2, 4.893_524_6e-3);
    p *= x;
    let mut q = 1.198_258_4e-6_f32;
    q = q.mul_add(x2, 1.185_347_1e-4);
    q = q.mul_add(x2, 2.268_434_6e-3);
    q = q.mul_add(x2, 4.893_525e-3);
    p / q
}

/// The logistic function, as `(1 + tanh(x/2)) / 2`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    0.5f32.mul_add(tanh(0.5 * x), 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_and_tanh_match_std() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            worst.1 = worst
                .1
                .max((sigmoid(x) as f64 - 1.0 / (1.0 + (-x as f64).exp())).abs());
            worst.2 = worst.2.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst.1 < 3e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 3e-7, "tanh error {}", worst.2);
        // Saturates instead of overflowing.
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(1000.0) <= 1.0);
        assert!(sigmoid(f32::MAX).is_finite() && tanh(f32::MIN).is_finite());
        assert!((tanh(50.0) - 1.0).abs() < 3e-7 && (tanh(-50.0) + 1.0).abs() < 3e-7);
    }

    #[test]
    fn transpose_of_uneven_tiles() {
        let (rows, cols) = (19, 37);
        let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let mut dst = vec![0.0f32; rows * cols];
        transpose(&mut dst, &src, rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(dst[c * rows + r], src[r * cols + c]);
            }
        }
    }

    #[test]
    fn matmul_matches_naive() {
        let (m, k, n) = (3, 5, 4);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 3) as f32 - 1.0).collect();
        let mut c = vec![1.0f32; m * n];
        matmul(&mut c, &a, &b, m, k, n, Acc::Add);
        let mut at = vec![0.0f32; k * m];
        transpose(&mut at, &a, m, k);
        let mut c2 = vec![0.0f32; m * n];
        matmul_tn(&mut c2, &at, &b, k, m, n, Acc::Replace);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((c[i * n + j] - 1.0 - want).abs() < 1e-5);
                assert!((c2[i * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
