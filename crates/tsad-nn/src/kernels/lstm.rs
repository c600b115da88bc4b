//! One LSTM layer over a chunk of sequences: forward (one GEMM for the input projection of every
//! step, one GEMM per step for all four gates) and its hand-derived backward pass through time.
//!
//! Layout: sequences are time-major, row `t·m + r` holds step `t` of sequence `r` of a chunk of
//! `m` sequences. Gates are stored per row as `[i | f | g | o]`, each `hidden` wide, in
//! PyTorch's order. Weights are row-major `W_ih: input×4H`, `W_hh: H×4H`, one bias `4H`.

use super::math::{Acc, matmul, matmul_tn, sigmoid, simd, tanh, transpose};

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
    w_hh_t: Vec<f32>,
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
            w_hh_t: vec![0.0; g * dims.hidden],
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
        let c_prev = (t > 0).then(|| &c_done[(t - 1) * m * hd..]);
        let c = &mut c_rest[..m * hd];
        let tc = &mut cache.tc[t * m * hd..(t + 1) * m * hd];
        let h = &mut h_rest[..m * hd];
        simd(|| step_forward(hd, m, w.b, z, c_prev, c, tc, h));
    }
}

/// Gate activations and the cell update for one step of every row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_forward(
    hd: usize,
    m: usize,
    b: &[f32],
    z: &mut [f32],
    c_prev: Option<&[f32]>,
    c: &mut [f32],
    tc: &mut [f32],
    h: &mut [f32],
) {
    let g4 = 4 * hd;
    for r in 0..m {
        let zr = &mut z[r * g4..(r + 1) * g4];
        for (zv, bv) in zr.iter_mut().zip(&b[..g4]) {
            *zv += bv;
        }
        let (zi, rest) = zr.split_at_mut(hd);
        let (zf, rest) = rest.split_at_mut(hd);
        let (zg, zo) = rest.split_at_mut(hd);
        for v in zi.iter_mut().chain(zf.iter_mut()).chain(zo.iter_mut()) {
            *v = sigmoid(*v);
        }
        for v in zg.iter_mut() {
            *v = tanh(*v);
        }
        let cr = &mut c[r * hd..(r + 1) * hd];
        let tr = &mut tc[r * hd..(r + 1) * hd];
        let hr = &mut h[r * hd..(r + 1) * hd];
        match c_prev {
            Some(cp) => {
                let cp = &cp[r * hd..(r + 1) * hd];
                for j in 0..hd {
                    cr[j] = zf[j] * cp[j] + zi[j] * zg[j];
                }
            }
            None => {
                for j in 0..hd {
                    cr[j] = zi[j] * zg[j];
                }
            }
        }
        for j in 0..hd {
            let t = tanh(cr[j]);
            tr[j] = t;
            hr[j] = zo[j] * t;
        }
    }
}

/// Back-propagates through the layer. `dh` holds the loss gradient with respect to every
/// output row (`steps·m × H`); gradients are added to `grads`; when `dx` is given it receives
/// the gradient with respect to the input (`steps·m × input` for [`Input::Seq`], `m × input`
/// for [`Input::Repeated`]), overwritten.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    dims: LstmDims,
    w: LstmWeights<'_>,
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
    transpose(&mut ws.w_hh_t, w.w_hh, hd, g4);
    ws.dc[..m * hd].fill(0.0);
    for t in (0..steps).rev() {
        let dh_t = &mut ws.dh[..m * hd];
        dh_t.copy_from_slice(&dh[t * m * hd..(t + 1) * m * hd]);
        let (dz_now, dz_next) = ws.dz.split_at_mut((t + 1) * m * g4);
        if t + 1 < steps {
            matmul(dh_t, &dz_next[..m * g4], &ws.w_hh_t, m, g4, hd, Acc::Add);
        }
        let dz_t = &mut dz_now[t * m * g4..];
        let gates = &cache.gates[t * m * g4..(t + 1) * m * g4];
        let tc = &cache.tc[t * m * hd..(t + 1) * m * hd];
        let c_prev = (t > 0).then(|| &cache.c[(t - 1) * m * hd..t * m * hd]);
        let dc = &mut ws.dc[..m * hd];
        simd(|| step_backward(hd, m, gates, tc, c_prev, dh_t, dc, dz_t));
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
    simd(|| {
        for row in dz.chunks_exact(g4) {
            for (b, d) in grads.b.iter_mut().zip(row) {
                *b += d;
            }
        }
    });
    match input {
        Input::Seq(x) => {
            matmul_tn(grads.w_ih, x, dz, rows, ni, g4, Acc::Add);
            if let Some(dx) = dx {
                transpose(&mut ws.w_ih_t, w.w_ih, ni, g4);
                matmul(dx, dz, &ws.w_ih_t, rows, g4, ni, Acc::Replace);
            }
        }
        Input::Repeated(x) => {
            let dz_sum = &mut ws.dz_sum[..m * g4];
            dz_sum.copy_from_slice(&dz[..m * g4]);
            simd(|| {
                for step in dz[m * g4..].chunks_exact(m * g4) {
                    for (s, d) in dz_sum.iter_mut().zip(step) {
                        *s += d;
                    }
                }
            });
            matmul_tn(grads.w_ih, x, dz_sum, m, ni, g4, Acc::Add);
            if let Some(dx) = dx {
                transpose(&mut ws.w_ih_t, w.w_ih, ni, g4);
                matmul(dx, dz_sum, &ws.w_ih_t, m, g4, ni, Acc::Replace);
            }
        }
    }
}

/// Gate gradients of one step of every row; carries the cell gradient in `dc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn step_backward(
    hd: usize,
    m: usize,
    gates: &[f32],
    tc: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    let g4 = 4 * hd;
    for r in 0..m {
        let gr = &gates[r * g4..(r + 1) * g4];
        let (gi, rest) = gr.split_at(hd);
        let (gf, rest) = rest.split_at(hd);
        let (gg, go) = rest.split_at(hd);
        let dzr = &mut dz[r * g4..(r + 1) * g4];
        let (dzi, rest) = dzr.split_at_mut(hd);
        let (dzf, rest) = rest.split_at_mut(hd);
        let (dzg, dzo) = rest.split_at_mut(hd);
        let tr = &tc[r * hd..(r + 1) * hd];
        let dhr = &dh[r * hd..(r + 1) * hd];
        let dcr = &mut dc[r * hd..(r + 1) * hd];
        for j in 0..hd {
            let (i, f, g, o, t) = (gi[j], gf[j], gg[j], go[j], tr[j]);
            let dcj = dcr[j] + dhr[j] * o * (1.0 - t * t);
            dzi[j] = dcj * g * i * (1.0 - i);
            dzg[j] = dcj * i * (1.0 - g * g);
            dzo[j] = dhr[j] * t * o * (1.0 - o);
            dcr[j] = dcj * f;
        }
        match c_prev {
            Some(cp) => {
                let cp = &cp[r * hd..(r + 1) * hd];
                for j in 0..hd {
                    // dcr now holds dc·f; recover dc·c_prev·f·(1-f) as (dc·f)·c_prev·(1-f).
                    dzf[j] = dcr[j] * cp[j] * (1.0 - gf[j]);
                }
            }
            None => dzf.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed in f64 by the LSTM equations in numpy and confirmed with
    /// `torch.nn.LSTM(1, 2)` (weights copied transposed, `bias_ih = b`, `bias_hh = 0`):
    /// see the script in this test's comment history, reproduced here:
    /// ```python
    /// z = x*w_ih[0] + h@w_hh + b; i,f,g,o = sig(z[0:2]), sig(z[2:4]), tanh(z[4:6]), sig(z[6:8])
    /// c = f*c + i*g; h = o*tanh(c)
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
                assert!((cache.h[t * 2 + j] - want_h[t][j]).abs() < 1e-6, "h[{t}][{j}]");
                assert!((cache.c[t * 2 + j] - want_c[t][j]).abs() < 1e-6, "c[{t}][{j}]");
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
