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
#[inline]
pub(crate) fn matmul(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, acc: Acc) {
    product(c, a, false, b, m, k, n, acc);
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
    product(c, a, true, b, m, k, n, acc);
}

/// [`matmul`] and [`matmul_tn`]: `A` is `m×k`, or stored as its `k×m` transpose.
///
/// Few rows of `C` and whole SIMD vectors of columns (an LSTM step's products) go to
/// [`Streamed`]; the rest to `faer`, which was measured faster than `matrixmultiply` for the
/// large products (it has AVX-512 kernels; see the crate README) and, unlike calling `gemm`
/// directly, needs no `unsafe`, which the workspace forbids.
#[inline]
#[allow(clippy::too_many_arguments)]
fn product(
    c: &mut [f32],
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    acc: Acc,
) {
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
    let (c, a, b) = (&mut *c, a, b);
    if simd(Streamed {
        c,
        a,
        a_transposed,
        b,
        m,
        k,
        n,
        acc,
    }) {
        return;
    }
    let a = if a_transposed {
        MatRef::from_row_major_slice(&a[..k * m], k, m).transpose()
    } else {
        MatRef::from_row_major_slice(&a[..m * k], m, k)
    };
    let b = MatRef::from_row_major_slice(&b[..k * n], k, n);
    let c = MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    faer::linalg::matmul::matmul(c, acc.into(), a, b, 1.0f32, Par::Seq);
}

/// [`Streamed`] handles products with up to this many rows of `C`. Beyond, `faer` was faster
/// even when `B` is small (the input projection of a chunk's 512 rows at once).
const STREAMED_MAX_ROWS: usize = 64;

/// `C (m×n) (+)= A (m×k) · B (k×n)` with `B` row-major and `A` row-major or, when
/// `a_transposed`, stored as its `k×m` transpose, for the LSTM's products: the
/// per-step ones of a chunk (8 windows × 64 hidden · 64 × 256 gates) and the weight
/// gradients summed over a chunk's steps (64 × 504 · 504 × 256), nearly all of a training
/// epoch. A general GEMM packs its operands into panels on every call, which the per-step
/// products are too small to repay; here the rows of `B` already are the contiguous vectors
/// the kernel wants and `A` is read one scalar at a time, so neither is copied. A tile of
/// `R` rows of `C` by `V` SIMD vectors of columns stays in registers for the whole sum over
/// `k`, which runs in order, so an entry's rounding does not depend on the vector width.
/// Returns `false`, doing nothing, when `n` is not a whole number of vectors or `C` has more
/// than [`STREAMED_MAX_ROWS`] rows.
struct Streamed<'a> {
    c: &'a mut [f32],
    a: &'a [f32],
    a_transposed: bool,
    b: &'a [f32],
    m: usize,
    k: usize,
    n: usize,
    acc: Acc,
}

impl pulp::WithSimd for Streamed<'_> {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> bool {
        let Streamed {
            c,
            a,
            a_transposed,
            b,
            m,
            k,
            n,
            acc,
        } = self;
        if m > STREAMED_MAX_ROWS || !n.is_multiple_of(S::F32_LANES) {
            return false;
        }
        let (b, _) = S::as_simd_f32s(&b[..k * n]);
        let a = AOperand {
            a,
            transposed: a_transposed,
            m,
            k,
        };
        let (c, nv) = (&mut c[..m * n], n / S::F32_LANES);
        // Tiles sized to the register file: 24 accumulators of 16 lanes with AVX-512's 32
        // registers (8 rows × 3 vectors, then 4 × 6 for a chunk of 4 windows), 12 of 8 lanes
        // with AVX2's 16; the rest hold a row of the tile of `B`.
        if S::F32_LANES >= 16 {
            let done = row_blocks::<S, 8, 3>(simd, c, a, 0, b, nv, acc);
            let done = row_blocks::<S, 4, 6>(simd, c, a, done, b, nv, acc);
            row_blocks::<S, 1, 6>(simd, c, a, done, b, nv, acc);
        } else {
            let done = row_blocks::<S, 4, 3>(simd, c, a, 0, b, nv, acc);
            row_blocks::<S, 1, 3>(simd, c, a, done, b, nv, acc);
        }
        true
    }
}

/// Computes rows `from..` of `C` in blocks of `R` rows, as many as fit; returns the first row
/// left. Each block is cut into tiles of `V` vectors of columns, then the vectors left one at
/// a time.
#[inline(always)]
fn row_blocks<S: pulp::Simd, const R: usize, const V: usize>(
    simd: S,
    c: &mut [f32],
    a: AOperand<'_>,
    from: usize,
    b: &[S::f32s],
    nv: usize,
    acc: Acc,
) -> usize {
    let n = nv * S::F32_LANES;
    let m = c.len() / n;
    let to = from + (m - from) / R * R;
    let blocks = &mut c[from * n..to * n];
    // Column tiles outside, row blocks inside: a tile's columns of `B` (`k` × `V` vectors) are
    // read by every block of rows in turn while still in cache. With the rows outside, a
    // weight gradient's 504 × 256 `B` streamed from L3 once per block of rows.
    let mut j = 0;
    while j < nv {
        let wide = j + V <= nv;
        for (i, c) in blocks.chunks_exact_mut(R * n).enumerate() {
            let r0 = from + i * R;
            if wide {
                tile::<S, R, V>(simd, c, a, r0, b, nv, j, acc);
            } else {
                tile::<S, R, 1>(simd, c, a, r0, b, nv, j, acc);
            }
        }
        j += if wide { V } else { 1 };
    }
    to
}

/// The `A` operand of [`Streamed`]: `m×k` row-major, or (`transposed`) stored as its `k×m`
/// transpose, whose row `p` holds the `R` entries a tile needs at step `p` side by side.
#[derive(Clone, Copy)]
struct AOperand<'a> {
    a: &'a [f32],
    transposed: bool,
    m: usize,
    k: usize,
}

/// `sum[r][v] += a_p[r] · b[v]`: one step of a tile's sum over `k`.
#[inline(always)]
fn rank_one<S: pulp::Simd, const R: usize, const V: usize>(
    simd: S,
    sum: &mut [[S::f32s; V]; R],
    a_p: &[f32; R],
    b: &[S::f32s; V],
) {
    for (sum_r, &a_rp) in sum.iter_mut().zip(a_p) {
        let a_rp = simd.splat_f32s(a_rp);
        for (s, &bv) in sum_r.iter_mut().zip(b) {
            *s = simd.mul_add_f32s(a_rp, bv, *s);
        }
    }
}

/// One tile of `C`: rows `r0..r0 + R` (`c` holds exactly those rows) by vectors
/// `j..j + V` of columns, summed over all of `k` in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: pulp::Simd, const R: usize, const V: usize>(
    simd: S,
    c: &mut [f32],
    a: AOperand<'_>,
    r0: usize,
    b: &[S::f32s],
    nv: usize,
    j: usize,
    acc: Acc,
) {
    let mut sum = [[simd.splat_f32s(0.0); V]; R];
    let b_rows = b.chunks_exact(nv).take(a.k);
    if a.transposed {
        for (a_col, b_row) in a.a.chunks_exact(a.m).zip(b_rows) {
            let a_p: &[f32; R] = a_col[r0..r0 + R].try_into().expect("R rows");
            rank_one(
                simd,
                &mut sum,
                a_p,
                b_row[j..j + V].try_into().expect("V vectors"),
            );
        }
    } else {
        let mut rows = [&a.a[..0]; R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = &a.a[(r0 + r) * a.k..][..a.k];
        }
        for (p, b_row) in b_rows.enumerate() {
            let mut a_p = [0.0; R];
            for (v, row) in a_p.iter_mut().zip(&rows) {
                *v = row[p];
            }
            rank_one(
                simd,
                &mut sum,
                &a_p,
                b_row[j..j + V].try_into().expect("V vectors"),
            );
        }
    }
    let n = c.len() / R;
    for (c_row, sum_r) in c.chunks_exact_mut(n).zip(&sum) {
        let (c_row, _) = S::as_mut_simd_f32s(c_row);
        for (cv, &s) in c_row[j..j + V].iter_mut().zip(sum_r) {
            *cv = match acc {
                Acc::Replace => s,
                Acc::Add => simd.add_f32s(*cv, s),
            };
        }
    }
}

/// Writes the transpose of the `rows×cols` row-major `src` into `dst` (`cols×rows`), in 8×8
/// tiles so that both sides stay in cache lines already loaded. A full tile goes through a
/// fixed-size array, which the compiler turns into register shuffles without bounds checks;
/// edge tiles take the plain loop.
pub(crate) fn transpose(dst: &mut [f32], src: &[f32], rows: usize, cols: usize) {
    const T: usize = 8;
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            if r0 + T <= rows && c0 + T <= cols {
                let mut tile = [[0.0f32; T]; T];
                for (i, row) in tile.iter_mut().enumerate() {
                    row.copy_from_slice(&src[(r0 + i) * cols + c0..][..T]);
                }
                for j in 0..T {
                    let out = &mut dst[(c0 + j) * rows + r0..][..T];
                    for (o, row) in out.iter_mut().zip(&tile) {
                        *o = row[j];
                    }
                }
            } else {
                for r in r0..(r0 + T).min(rows) {
                    for c in c0..(c0 + T).min(cols) {
                        dst[c * rows + r] = src[r * cols + c];
                    }
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
    let (p, q) = tanh_fraction(x);
    p / q
}

/// The numerator and denominator of [`tanh`]'s rational approximation, so that callers
/// with several to evaluate can share one division. `q` lies in [0.0048, 0.95].
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn tanh_fraction(x: f32) -> (f32, f32) {
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
    (p, q)
}

/// The logistic function, as `(1 + tanh(x/2)) / 2`: the reference [`gate_activations`] is
/// tested against.
#[cfg(test)]
fn sigmoid(x: f32) -> f32 {
    0.5f32.mul_add(tanh(0.5 * x), 0.5)
}

/// An LSTM cell's four gate activations from their pre-activations: `sigmoid` of `i`, `f`
/// and `o`, `tanh` of `g`. The four [`tanh`] fractions share one division (the reciprocal of
/// the product of their denominators, each at least 0.0048, so it cannot overflow): a
/// division costs as much as a dozen multiplications, and these are most of a step's
/// element-wise work. The result is within a few ulps of four separate calls.
#[inline(always)]
pub(crate) fn gate_activations(i: f32, f: f32, g: f32, o: f32) -> [f32; 4] {
    let (pi, qi) = tanh_fraction(0.5 * i);
    let (pf, qf) = tanh_fraction(0.5 * f);
    let (pg, qg) = tanh_fraction(g);
    let (po, qo) = tanh_fraction(0.5 * o);
    let (if_, go) = (qi * qf, qg * qo);
    let r = 1.0 / (if_ * go);
    let (r_if, r_go) = (go * r, if_ * r);
    [
        0.5f32.mul_add(pi * qf * r_if, 0.5),
        0.5f32.mul_add(pf * qi * r_if, 0.5),
        pg * qo * r_go,
        0.5f32.mul_add(po * qg * r_go, 0.5),
    ]
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
    fn gate_activations_match_separate_calls() {
        let mut worst = 0.0f32;
        for a in -60..=60 {
            for b in [-9.0f32, -2.5, -0.3, 0.0, 0.7, 3.1, 12.0] {
                let (i, f, g, o) = (a as f32 * 0.2, b, -b * 0.5 + 0.1, a as f32 * -0.13);
                let got = gate_activations(i, f, g, o);
                let want = [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)];
                for (x, y) in got.iter().zip(want) {
                    worst = worst.max((x - y).abs());
                }
            }
        }
        assert!(worst < 1e-6, "worst difference {worst}");
        let sat = gate_activations(f32::MAX, f32::MIN, 1e30, -1e30);
        assert!(sat.iter().all(|v| v.is_finite()), "{sat:?}");
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

    /// Shapes that take [`Streamed`] (whole SIMD vectors of columns) with every kind of
    /// remainder: rows left after the row blocks, vectors left after the column tiles, and
    /// more rows than [`STREAMED_MAX_ROWS`] (faer again); plain and transposed `A`.
    #[test]
    fn few_rows_matches_naive_on_every_remainder() {
        for (m, k, n) in [
            (11, 7, 48),
            (8, 64, 256),
            (3, 1, 80),
            (1, 9, 16),
            (70, 5, 32),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5) % 11) as f32 * 0.5 - 2.0)
                .collect();
            let start: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
            for acc in [Acc::Replace, Acc::Add] {
                let mut c = start.clone();
                matmul(&mut c, &a, &b, m, k, n, acc);
                for i in 0..m {
                    for j in 0..n {
                        let base = if acc == Acc::Add {
                            start[i * n + j]
                        } else {
                            0.0
                        };
                        let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                        assert!(
                            (c[i * n + j] - base - want).abs() < 1e-4,
                            "{m}x{k}x{n} {acc:?} at ({i}, {j}): {} vs {}",
                            c[i * n + j],
                            base + want
                        );
                    }
                }
            }
        }
    }

    /// [`Streamed`] at every SIMD width this CPU has, not only the widest, which [`matmul`]
    /// picks: 1 lane (scalar), 8 (AVX2, tiles of 4 rows) and 16 (AVX-512, tiles of 8 and 4).
    #[test]
    fn streamed_matches_naive_at_every_width() {
        fn run<S: pulp::Simd>(
            simd: S,
            a: &[f32],
            transposed: bool,
            b: &[f32],
            mkn: [usize; 3],
        ) -> Vec<f32> {
            let [m, k, n] = mkn;
            let mut c = vec![f32::NAN; m * n];
            let op = Streamed {
                c: &mut c,
                a,
                a_transposed: transposed,
                b,
                m,
                k,
                n,
                acc: Acc::Replace,
            };
            assert!(simd.vectorize(op), "{mkn:?} not taken");
            c
        }
        for [m, k, n] in [[13, 6, 48], [9, 5, 16], [3, 4, 32], [64, 3, 64]] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5) % 11) as f32 * 0.5 - 2.0)
                .collect();
            let want: Vec<f32> = (0..m * n)
                .map(|i| (0..k).map(|p| a[(i / n) * k + p] * b[p * n + i % n]).sum())
                .collect();
            let mut got = Vec::new();
            for (a, t) in [(&a, false), (&at, true)] {
                got.push((1, t, run(pulp::Scalar::new(), a, t, &b, [m, k, n])));
                #[cfg(target_arch = "x86_64")]
                {
                    if let Some(v3) = pulp::x86::V3::try_new() {
                        got.push((8, t, run(v3, a, t, &b, [m, k, n])));
                    }
                    if let Some(v4) = pulp::x86::V4::try_new() {
                        got.push((16, t, run(v4, a, t, &b, [m, k, n])));
                    }
                }
            }
            for (lanes, transposed, c) in got {
                for (i, (x, y)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (x - y).abs() < 1e-4,
                        "{m}x{k}x{n}, {lanes} lanes, transposed {transposed}, entry {i}: {x} vs {y}"
                    );
                }
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
