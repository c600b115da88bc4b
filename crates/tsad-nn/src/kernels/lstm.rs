//! One LSTM layer over a chunk of sequences: forward (one GEMM for the input projection of every
//! step, one GEMM per step for all four gates) and its hand-derived backward pass through time.
//!
//! Layout: sequences are time-major, row `t·m + r` holds step `t` of sequence `r` of a chunk of
//! `m` sequences. Gates are stored per row as `[i | f | g | o]`, each `hidden` wide, in
//! PyTorch's order. Weights are row-major `W_ih: input×4H`, `W_hh: H×4H`, one bias `4H`.

use super::math::{Acc, AddRows, gate_activations, matmul, matmul_tn, simd, tanh, transpose};

/// Sizes of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LstmDims {
    /// Features per step going in.
    pub(crate) input: usize,
    /// Hidden (and cell) width `H`.
    pub(crate) hidden: usize,
}

impl LstmDims {
    pub(crate) fn gates(&self) -> usize {
        4 * self.hidden
    }
}

/// Borrowed weights of one layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LstmWeights<'a> {
    pub(crate) w_ih: &'a [f32],
    pub(crate) w_hh: &'a [f32],
    pub(crate) b: &'a [f32],
}

/// Borrowed gradient accumulators of one layer (added to, never overwritten).
#[derive(Debug)]
pub(crate) struct LstmGrads<'a> {
    pub(crate) w_ih: &'a mut [f32],
    pub(crate) w_hh: &'a mut [f32],
    pub(crate) b: &'a mut [f32],
}

/// What the layer reads at each step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    /// A different input per step: `steps·m` rows of `input` features.
    Seq(&'a [f32]),
    /// The same `m` rows at every step (the autoencoder's repeated latent): its projection is
    /// computed once instead of `steps` times.
    Repeated(&'a [f32]),
}

/// Everything the forward pass keeps for the backward pass, preallocated for `steps × rows`.
#[derive(Debug, Clone)]
pub(crate) struct LstmCache {
    /// Activated gates per row.
    pub(crate) gates: Vec<f32>,
    /// Cell state per row.
    pub(crate) c: Vec<f32>,
    /// `tanh(c)` per row.
    pub(crate) tc: Vec<f32>,
    /// Hidden state (the layer's output) per row.
    pub(crate) h: Vec<f32>,
    /// Input projection of a repeated input (`rows × 4H`).
    gx: Vec<f32>,
    /// The zero state before the first step (`rows × H`).
    zeros: Vec<f32>,
}

impl LstmCache {
    pub(crate) fn new(dims: LstmDims, steps: usize, rows: usize) -> Self {
        let n = steps * rows;
        LstmCache {
            gates: vec![0.0; n * dims.gates()],
            c: vec![0.0; n * dims.hidden],
            tc: vec![0.0; n * dims.hidden],
            h: vec![0.0; n * dims.hidden],
            gx: vec![0.0; rows * dims.gates()],
            zeros: vec![0.0; rows * dims.hidden],
        }
    }
}

/// Scratch space of the backward pass, preallocated for `steps × rows`.
#[derive(Debug, Clone)]
pub(crate) struct LstmBackWs {
    /// Pre-activation gate gradients of every row.
    dz: Vec<f32>,
    dh: Vec<f32>,
    dc: Vec<f32>,
    dz_sum: Vec<f32>,
    w_ih_t: Vec<f32>,
}

impl LstmBackWs {
    pub(crate) fn new(dims: LstmDims, steps: usize, rows: usize) -> Self {
        let g = dims.gates();
        LstmBackWs {
            dz: vec![0.0; steps * rows * g],
            dh: vec![0.0; rows * dims.hidden],
            dc: vec![0.0; rows * dims.hidden],
            dz_sum: vec![0.0; rows * g],
            w_ih_t: vec![0.0; g * dims.input],
        }
    }
}

/// Runs the layer over `steps` steps of `m` sequences, starting from zero state, filling
/// `cache` (whose `h` is the output).
pub(crate) fn forward(
    dims: LstmDims,
    w: LstmWeights<'_>,
    input: Input<'_>,
    steps: usize,
    m: usize,
    cache: &mut LstmCache,
) {
    let (hd, g4) = (dims.hidden, dims.gates());
    let rows = steps * m;
    match input {
        Input::Seq(x) => matmul(
            &mut cache.gates,
            x,
            w.w_ih,
            rows,
            dims.input,
            g4,
            Acc::Replace,
        ),
        Input::Repeated(x) => matmul(&mut cache.gx, x, w.w_ih, m, dims.input, g4, Acc::Replace),
    }
    for t in 0..steps {
        let (h_done, h_rest) = cache.h.split_at_mut(t * m * hd);
        let z = &mut cache.gates[t * m * g4..(t + 1) * m * g4];
        if let Input::Repeated(_) = input {
            z.copy_from_slice(&cache.gx[..m * g4]);
        }
        if t > 0 {
            let h_prev = &h_done[(t - 1) * m * hd..];
            matmul(z, h_prev, w.w_hh, m, hd, g4, Acc::Add);
        }
        let (c_done, c_rest) = cache.c.split_at_mut(t * m * hd);
        let c_prev = if t > 0 {
            &c_done[(t - 1) * m * hd..]
        } else {
            &cache.zeros[..]
        };
        let c = &mut c_rest[..m * hd];
        let tc = &mut cache.tc[t * m * hd..(t + 1) * m * hd];
        let h = &mut h_rest[..m * hd];
        simd(StepForward {
            hd,
            m,
            b: w.b,
            z,
            c_prev,
            c,
            tc,
            h,
        });
    }
}

/// Gate activations and the cell update for one step of every row.
struct StepForward<'a> {
    hd: usize,
    m: usize,
    b: &'a [f32],
    z: &'a mut [f32],
    /// The previous step's cell state (zeros at the first step).
    c_prev: &'a [f32],
    c: &'a mut [f32],
    tc: &'a mut [f32],
    h: &'a mut [f32],
}

impl pulp::WithSimd for StepForward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let StepForward {
            hd,
            m,
            b,
            z,
            c_prev,
            c,
            tc,
            h,
        } = self;
        let g4 = 4 * hd;
        for r in 0..m {
            let zr = &mut z[r * g4..(r + 1) * g4];
            let (zi, rest) = zr.split_at_mut(hd);
            let (zf, rest) = rest.split_at_mut(hd);
            let (zg, zo) = rest.split_at_mut(hd);
            let (zo, bi, bf) = (&mut zo[..hd], &b[..hd], &b[hd..2 * hd]);
            let (bg, bo) = (&b[2 * hd..3 * hd], &b[3 * hd..4 * hd]);
            let cp = &c_prev[r * hd..(r + 1) * hd];
            let cr = &mut c[r * hd..(r + 1) * hd];
            let tr = &mut tc[r * hd..(r + 1) * hd];
            let hr = &mut h[r * hd..(r + 1) * hd];
            row_forward(zi, zf, zg, zo, bi, bf, bg, bo, cp, cr, tr, hr);
        }
    }
}

/// One row of [`StepForward`]. A function of its own so that its slices are `noalias`
/// arguments: LLVM then vectorises the loop without runtime overlap checks, which it gives up
/// on for this many pointers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_forward(
    zi: &mut [f32],
    zf: &mut [f32],
    zg: &mut [f32],
    zo: &mut [f32],
    bi: &[f32],
    bf: &[f32],
    bg: &[f32],
    bo: &[f32],
    cp: &[f32],
    c: &mut [f32],
    tc: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    let (zi, zf, zg, zo) = (&mut zi[..n], &mut zf[..n], &mut zg[..n], &mut zo[..n]);
    let (bi, bf, bg, bo, cp) = (&bi[..n], &bf[..n], &bg[..n], &bo[..n], &cp[..n]);
    let (c, tc) = (&mut c[..n], &mut tc[..n]);
    for j in 0..n {
        let [i, f, g, o] =
            gate_activations(zi[j] + bi[j], zf[j] + bf[j], zg[j] + bg[j], zo[j] + bo[j]);
        zi[j] = i;
        zf[j] = f;
        zg[j] = g;
        zo[j] = o;
        let cv = f * cp[j] + i * g;
        c[j] = cv;
        let t = tanh(cv);
        tc[j] = t;
        h[j] = o * t;
    }
}

/// Back-propagates through the layer. `dh` holds the loss gradient with respect to the
/// output rows of the last `dh.len() / (m·H)` steps: all of them, or only the last one when
/// nothing reads the earlier outputs (a forecaster's top layer); earlier outputs have none.
/// `w_hh_t` is `W_hhᵀ` (`4H×H`), transposed once per optimiser step rather than per chunk.
/// Gradients are added to `grads`; when `dx` is given it receives the gradient with respect
/// to the input (`steps·m × input` for [`Input::Seq`], `m × input` for [`Input::Repeated`]),
/// overwritten.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    dims: LstmDims,
    w: LstmWeights<'_>,
    w_hh_t: &[f32],
    input: Input<'_>,
    steps: usize,
    m: usize,
    cache: &LstmCache,
    dh: &[f32],
    ws: &mut LstmBackWs,
    grads: LstmGrads<'_>,
    dx: Option<&mut [f32]>,
) {
    let (hd, g4, ni) = (dims.hidden, dims.gates(), dims.input);
    let rows = steps * m;
    let given = dh.len() / (m * hd);
    debug_assert!((1..=steps).contains(&given) && dh.len() == given * m * hd);
    let first_given = steps - given;
    ws.dc[..m * hd].fill(0.0);
    for t in (0..steps).rev() {
        let dh_t = &mut ws.dh[..m * hd];
        let (dz_now, dz_next) = ws.dz.split_at_mut((t + 1) * m * g4);
        let from_next = (t + 1 < steps).then(|| &dz_next[..m * g4]);
        match (t.checked_sub(first_given), from_next) {
            (Some(i), from_next) => {
                dh_t.copy_from_slice(&dh[i * m * hd..(i + 1) * m * hd]);
                if let Some(dz) = from_next {
                    matmul(dh_t, dz, w_hh_t, m, g4, hd, Acc::Add);
                }
            }
            (None, Some(dz)) => matmul(dh_t, dz, w_hh_t, m, g4, hd, Acc::Replace),
            (None, None) => unreachable!("the last step's gradient is always given"),
        }
        let dz_t = &mut dz_now[t * m * g4..];
        let gates = &cache.gates[t * m * g4..(t + 1) * m * g4];
        let tc = &cache.tc[t * m * hd..(t + 1) * m * hd];
        let c_prev = if t > 0 {
            &cache.c[(t - 1) * m * hd..t * m * hd]
        } else {
            &cache.zeros[..]
        };
        let dc = &mut ws.dc[..m * hd];
        let dz_t = &mut dz_t[..m * g4];
        simd(StepBackward {
            hd,
            m,
            gates,
            tc,
            c_prev,
            dh: dh_t,
            dc,
            dz: dz_t,
        });
        // Sums over the steps while this step's `dz` is still in L1: the bias gradient, and
        // for a repeated input the gradient of its one projection.
        simd(AddRows {
            acc: &mut grads.b[..g4],
            rows: dz_t,
        });
        if let Input::Repeated(_) = input {
            let dz_sum = &mut ws.dz_sum[..m * g4];
            if t + 1 == steps {
                dz_sum.copy_from_slice(dz_t);
            } else {
                simd(AddRows {
                    acc: dz_sum,
                    rows: dz_t,
                });
            }
        }
    }
    let dz = &ws.dz[..rows * g4];
    if steps > 1 {
        matmul_tn(
            grads.w_hh,
            &cache.h[..(steps - 1) * m * hd],
            &dz[m * g4..],
            (steps - 1) * m,
            hd,
            g4,
            Acc::Add,
        );
    }
    match input {
        Input::Seq(x) => {
            matmul_tn(grads.w_ih, x, dz, rows, ni, g4, Acc::Add);
            if let Some(dx) = dx {
                transpose(&mut ws.w_ih_t, w.w_ih, ni, g4);
                matmul(dx, dz, &ws.w_ih_t, rows, g4, ni, Acc::Replace);
            }
        }
        Input::Repeated(x) => {
            let dz_sum = &ws.dz_sum[..m * g4];
            matmul_tn(grads.w_ih, x, dz_sum, m, ni, g4, Acc::Add);
            if let Some(dx) = dx {
                transpose(&mut ws.w_ih_t, w.w_ih, ni, g4);
                matmul(dx, dz_sum, &ws.w_ih_t, m, g4, ni, Acc::Replace);
            }
        }
    }
}

/// Gate gradients of one step of every row; carries the cell gradient in `dc`.
struct StepBackward<'a> {
    hd: usize,
    m: usize,
    gates: &'a [f32],
    tc: &'a [f32],
    /// The previous step's cell state (zeros at the first step).
    c_prev: &'a [f32],
    dh: &'a [f32],
    dc: &'a mut [f32],
    dz: &'a mut [f32],
}

impl pulp::WithSimd for StepBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let StepBackward {
            hd,
            m,
            gates,
            tc,
            c_prev,
            dh,
            dc,
            dz,
        } = self;
        let g4 = 4 * hd;
        for r in 0..m {
            let gr = &gates[r * g4..(r + 1) * g4];
            let (gi, gf, gg, go) = (
                &gr[..hd],
                &gr[hd..2 * hd],
                &gr[2 * hd..3 * hd],
                &gr[3 * hd..],
            );
            let dzr = &mut dz[r * g4..(r + 1) * g4];
            let (dzi, rest) = dzr.split_at_mut(hd);
            let (dzf, rest) = rest.split_at_mut(hd);
            let (dzg, dzo) = rest.split_at_mut(hd);
            let dzo = &mut dzo[..hd];
            let tr = &tc[r * hd..(r + 1) * hd];
            let cp = &c_prev[r * hd..(r + 1) * hd];
            let dhr = &dh[r * hd..(r + 1) * hd];
            let dcr = &mut dc[r * hd..(r + 1) * hd];
            row_backward(gi, gf, gg, go, tr, cp, dhr, dcr, dzi, dzf, dzg, dzo);
        }
    }
}

/// One row of [`StepBackward`], with `noalias` slices (see [`row_forward`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_backward(
    gi: &[f32],
    gf: &[f32],
    gg: &[f32],
    go: &[f32],
    tc: &[f32],
    cp: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dzi: &mut [f32],
    dzf: &mut [f32],
    dzg: &mut [f32],
    dzo: &mut [f32],
) {
    let n = dc.len();
    let (gi, gf, gg, go) = (&gi[..n], &gf[..n], &gg[..n], &go[..n]);
    let (tc, cp, dh) = (&tc[..n], &cp[..n], &dh[..n]);
    let (dzi, dzf, dzg, dzo) = (&mut dzi[..n], &mut dzf[..n], &mut dzg[..n], &mut dzo[..n]);
    for j in 0..n {
        let (i, f, g, o, t) = (gi[j], gf[j], gg[j], go[j], tc[j]);
        let dcj = dc[j] + dh[j] * o * (1.0 - t * t);
        dzi[j] = dcj * g * i * (1.0 - i);
        dzf[j] = dcj * cp[j] * f * (1.0 - f);
        dzg[j] = dcj * i * (1.0 - g * g);
        dzo[j] = dh[j] * t * o * (1.0 - o);
        dc[j] = dcj * f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed in f64 with numpy from the LSTM equations, then confirmed with
    /// `torch.nn.LSTM(1, 2).double()` (weights copied transposed, `bias_ih = b`,
    /// `bias_hh = 0`), which printed the same `h` and final `c`. The numpy loop:
    /// ```python
    /// h = c = np.zeros(2)
    /// for x in [1.0, -0.5, 2.0]:
    ///     z = x * w_ih[0] + h @ w_hh + b
    ///     i, f, g, o = sig(z[0:2]), sig(z[2:4]), np.tanh(z[4:6]), sig(z[6:8])
    ///     c = f * c + i * g; h = o * np.tanh(c)
    /// ```
    #[test]
    fn forward_matches_hand_computed_values() {
        let dims = LstmDims {
            input: 1,
            hidden: 2,
        };
        let w_ih = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8];
        let w_hh = [
            0.15, -0.25, 0.35, 0.05, -0.45, 0.55, 0.2, -0.1, //
            -0.3, 0.12, 0.22, -0.18, 0.4, -0.6, 0.08, 0.33,
        ];
        let b = [0.01, -0.02, 0.5, 0.6, 0.03, -0.04, 0.05, 0.07];
        let x = [1.0, -0.5, 2.0];
        let want_h = [
            [-0.154_246_87, 0.072_317_9],
            [0.016_570_24, -0.061_010_6],
            [-0.304_460_98, 0.042_846_89],
        ];
        let want_c = [
            [-0.231_138, 0.226_162_1],
            [0.039_526, -0.097_985_62],
            [-0.395_381_71, 0.250_172_17],
        ];
        let mut cache = LstmCache::new(dims, 3, 1);
        let w = LstmWeights {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b: &b,
        };
        forward(dims, w, Input::Seq(&x), 3, 1, &mut cache);
        for t in 0..3 {
            for j in 0..2 {
                assert!(
                    (cache.h[t * 2 + j] - want_h[t][j]).abs() < 1e-6,
                    "h[{t}][{j}]"
                );
                assert!(
                    (cache.c[t * 2 + j] - want_c[t][j]).abs() < 1e-6,
                    "c[{t}][{j}]"
                );
            }
        }
        // A repeated input equals the same value fed as a sequence.
        let mut rep = LstmCache::new(dims, 3, 1);
        forward(dims, w, Input::Repeated(&[2.0]), 3, 1, &mut rep);
        let mut seq = LstmCache::new(dims, 3, 1);
        forward(dims, w, Input::Seq(&[2.0, 2.0, 2.0]), 3, 1, &mut seq);
        assert_eq!(rep.h, seq.h);
    }
}
