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

/// Writes the transpose of the `rows×cols` row-major `src` into `dst` (`cols×rows`).
pub(crate) fn transpose(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    for r in 0..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
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
        let w = self.acc.len();
        if w == 0 {
            return;
        }
        for row in self.rows.chunks_exact(w) {
            for (a, r) in self.acc.iter_mut().zip(row) {
                *a += r;
            }
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

/// `e^x` to about 2 ulp, branch-free so that loops over slices vectorise (the `libm` call
/// behind `f32::exp` does not, and would dominate an LSTM step). Cephes' `expf` polynomial.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to the nearest integer, readable back from the bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    // n is an integer in [-126, 127]; its bits sit in the low mantissa bits of t.
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
    y * scale
}

/// The logistic function.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Hyperbolic tangent as `1 - 2/(e^{2x} + 1)`; absolute error about 1e-7.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_tanh_match_std() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            worst.0 = worst.0.max(((e - want) / want).abs());
            worst.1 = worst
                .1
                .max((sigmoid(x) as f64 - 1.0 / (1.0 + (-x as f64).exp())).abs());
            worst.2 = worst.2.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst.0 < 5e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 3e-7, "tanh error {}", worst.2);
        // Saturates instead of overflowing.
        assert!(exp(1000.0).is_finite() && exp(-1000.0) >= 0.0);
        assert_eq!(sigmoid(-1000.0), sigmoid(-1000.0));
        assert!((tanh(50.0) - 1.0).abs() < 1e-7 && (tanh(-50.0) + 1.0).abs() < 1e-7);
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
