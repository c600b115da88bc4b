//! The two networks (forecaster and autoencoder) over one flat parameter vector, with the
//! forward and backward pass of one chunk of windows gathered from the scaled series.

use crate::Loss;
use crate::kernels::linear::{self, LinearDims};
use crate::kernels::lstm::{self, Input, LstmBackWs, LstmCache, LstmDims, LstmGrads, LstmWeights};
use crate::kernels::math::transpose;
use crate::kernels::optim::loss_grad;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// One named tensor inside the flat parameter vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorInfo {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) range: Range<usize>,
}

/// Where each tensor lives in the flat vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) len: usize,
}

impl Layout {
    fn add(&mut self, name: String, shape: &[usize]) -> Range<usize> {
        let n: usize = shape.iter().product();
        let range = self.len..self.len + n;
        self.len += n;
        self.tensors.push(TensorInfo {
            name,
            shape: shape.to_vec(),
            range: range.clone(),
        });
        range
    }
}

#[derive(Debug, Clone)]
struct LstmLayer {
    dims: LstmDims,
    w_ih: Range<usize>,
    w_hh: Range<usize>,
    b: Range<usize>,
}

impl LstmLayer {
    fn new(layout: &mut Layout, prefix: &str, dims: LstmDims) -> Self {
        let g = dims.gates();
        LstmLayer {
            dims,
            w_ih: layout.add(format!("{prefix}.w_ih"), &[dims.input, g]),
            w_hh: layout.add(format!("{prefix}.w_hh"), &[dims.hidden, g]),
            b: layout.add(format!("{prefix}.b"), &[g]),
        }
    }
    fn weights<'a>(&self, p: &'a [f32]) -> LstmWeights<'a> {
        LstmWeights {
            w_ih: &p[self.w_ih.clone()],
            w_hh: &p[self.w_hh.clone()],
            b: &p[self.b.clone()],
        }
    }
    fn grads<'a>(&self, g: &'a mut [f32]) -> LstmGrads<'a> {
        // The three tensors were added one after the other, so they are contiguous.
        let all = &mut g[self.w_ih.start..self.b.end];
        let (w_ih, rest) = all.split_at_mut(self.w_ih.len());
        let (w_hh, b) = rest.split_at_mut(self.w_hh.len());
        LstmGrads { w_ih, w_hh, b }
    }
    fn init(&self, p: &mut [f32], rng: &mut ChaCha8Rng) {
        // PyTorch's LSTM init, U(-1/√H, 1/√H), with the forget-gate bias raised by 1 so that
        // early training keeps the cell state (Jozefowicz et al., 2015).
        let k = 1.0 / (self.dims.hidden as f32).sqrt();
        for v in &mut p[self.w_ih.start..self.b.end] {
            *v = rng.random_range(-k..k);
        }
        let h = self.dims.hidden;
        for v in &mut p[self.b.start + h..self.b.start + 2 * h] {
            *v += 1.0;
        }
    }
}

#[derive(Debug, Clone)]
struct LinearLayer {
    dims: LinearDims,
    w: Range<usize>,
    b: Range<usize>,
}

impl LinearLayer {
    fn new(layout: &mut Layout, prefix: &str, dims: LinearDims) -> Self {
        LinearLayer {
            dims,
            w: layout.add(format!("{prefix}.w"), &[dims.input, dims.output]),
            b: layout.add(format!("{prefix}.b"), &[dims.output]),
        }
    }
    fn grads<'a>(&self, g: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]) {
        // Added one after the other, so contiguous.
        g[self.w.start..self.b.end].split_at_mut(self.w.len())
    }
    fn init(&self, p: &mut [f32], rng: &mut ChaCha8Rng) {
        // PyTorch's Linear init bound, U(-1/√in, 1/√in).
        let k = 1.0 / (self.dims.input as f32).sqrt();
        for v in &mut p[self.w.start..self.b.end] {
            *v = rng.random_range(-k..k);
        }
    }
}

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    /// Stacked LSTM over a window, Linear on the last hidden state -> the next value.
    Forecast,
    /// Encoder LSTM stack -> Linear to the latent -> latent repeated at every step -> decoder
    /// LSTM stack -> Linear per step -> the window reconstructed.
    Autoencoder,
}

/// A network's structure: sizes and where each tensor sits in the flat parameter vector.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub(crate) arch: Arch,
    pub(crate) window: usize,
    pub(crate) hidden: usize,
    /// Features per step of the input series: the value, then any covariates. The input is
    /// point-major: feature `j` of point `i` at `i · channels + j`.
    pub(crate) channels: usize,
    encoder: Vec<LstmLayer>,
    latent: Option<LinearLayer>,
    decoder: Vec<LstmLayer>,
    head: LinearLayer,
    pub(crate) layout: Layout,
}

impl Network {
    /// `layers` stacked LSTM(1->hidden, hidden->hidden, ...) and Linear(hidden->1).
    pub(crate) fn forecaster(window: usize, hidden: usize, layers: usize) -> Self {
        Self::forecaster_with(window, hidden, layers, 1)
    }

    /// [`Network::forecaster`] reading `channels` features per step (the value and
    /// `channels - 1` covariates) and still forecasting the value alone.
    pub(crate) fn forecaster_with(
        window: usize,
        hidden: usize,
        layers: usize,
        channels: usize,
    ) -> Self {
        let mut layout = Layout::default();
        let encoder = stack(&mut layout, "lstm", channels.max(1), hidden, layers);
        let head = LinearLayer::new(
            &mut layout,
            "head",
            LinearDims {
                input: hidden,
                output: 1,
            },
        );
        Network {
            arch: Arch::Forecast,
            window,
            hidden,
            channels: channels.max(1),
            encoder,
            latent: None,
            decoder: Vec::new(),
            head,
            layout,
        }
    }

    /// Encoder `layers`×LSTM(->hidden), Linear(hidden->latent), decoder `layers`×LSTM
    /// (latent->hidden, hidden->hidden, ...), Linear(hidden->1) per step.
    pub(crate) fn autoencoder(window: usize, hidden: usize, layers: usize, latent: usize) -> Self {
        let mut layout = Layout::default();
        let encoder = stack(&mut layout, "encoder", 1, hidden, layers);
        let latent = LinearLayer::new(
            &mut layout,
            "latent",
            LinearDims {
                input: hidden,
                output: latent,
            },
        );
        let decoder = stack(&mut layout, "decoder", latent.dims.output, hidden, layers);
        let head = LinearLayer::new(
            &mut layout,
            "head",
            LinearDims {
                input: hidden,
                output: 1,
            },
        );
        Network {
            arch: Arch::Autoencoder,
            window,
            hidden,
            channels: 1,
            encoder,
            latent: Some(latent),
            decoder,
            head,
            layout,
        }
    }

    /// Fresh parameters drawn from `seed`.
    pub(crate) fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = vec![0.0f32; self.layout.len];
        for l in self.encoder.iter().chain(&self.decoder) {
            l.init(&mut p, &mut rng);
        }
        if let Some(l) = &self.latent {
            l.init(&mut p, &mut rng);
        }
        self.head.init(&mut p, &mut rng);
        p
    }

    /// Last start index usable in a series of `n` points, plus one: windows need `window`
    /// points, and the forecaster one more for its target.
    pub(crate) fn windows_in(&self, n: usize) -> usize {
        let need = self.window + usize::from(self.arch == Arch::Forecast);
        (n + 1).saturating_sub(need)
    }

    /// Outputs per window: 1 for the forecaster, `window` for the autoencoder.
    pub(crate) fn outputs(&self) -> usize {
        match self.arch {
            Arch::Forecast => 1,
            Arch::Autoencoder => self.window,
        }
    }

    /// Scratch space for chunks of at most `rows` windows.
    pub(crate) fn workspace(&self, rows: usize) -> Workspace {
        let t = self.window;
        let h = self.hidden;
        let caches = |layers: &[LstmLayer]| -> Vec<LstmCache> {
            layers
                .iter()
                .map(|l| LstmCache::new(l.dims, t, rows))
                .collect()
        };
        let backs = |layers: &[LstmLayer]| -> Vec<LstmBackWs> {
            layers
                .iter()
                .map(|l| LstmBackWs::new(l.dims, t, rows))
                .collect()
        };
        let latent = self.latent.as_ref().map_or(0, |l| l.dims.output);
        let outputs = self.outputs();
        let stacked = |n: usize| if n > 0 { t * rows * h } else { 0 };
        let below_top = self.encoder.len().max(self.decoder.len()) - 1;
        Workspace {
            rows,
            x: vec![0.0; t * rows * self.channels],
            target: vec![0.0; outputs * rows],
            y: vec![0.0; outputs * rows],
            dy: vec![0.0; outputs * rows],
            enc: caches(&self.encoder),
            enc_back: backs(&self.encoder),
            dec: caches(&self.decoder),
            dec_back: backs(&self.decoder),
            z: vec![0.0; rows * latent],
            dz: vec![0.0; rows * latent],
            dh_top: vec![0.0; stacked(latent)],
            dh_a: vec![0.0; stacked(below_top)],
            dh_b: vec![0.0; stacked(below_top)],
            dh_last: vec![0.0; rows * h],
            w_t: vec![0.0; h * latent.max(1)],
            loss: 0.0,
        }
    }

    /// Gathers the windows starting at `starts` from `series` (point-major, `channels`
    /// features per point) into `ws` (time-major) with their targets: the next point's value
    /// (feature 0) for the forecaster.
    fn gather(&self, series: &[f32], starts: &[usize], ws: &mut Workspace) {
        let (m, t, c) = (starts.len(), self.window, self.channels);
        for (r, &s) in starts.iter().enumerate() {
            for k in 0..t {
                let row = (k * m + r) * c;
                ws.x[row..row + c].copy_from_slice(&series[(s + k) * c..(s + k + 1) * c]);
            }
            if self.arch == Arch::Forecast {
                ws.target[r] = series[(s + t) * c];
            }
        }
        if self.arch == Arch::Autoencoder {
            ws.target[..t * m].copy_from_slice(&ws.x[..t * m]);
        }
    }

    /// Runs the network forward on the windows at `starts`; the output lands in `ws.y`
    /// (`m` forecasts, or `window × m` reconstructions, time-major).
    pub(crate) fn forward(&self, p: &[f32], series: &[f32], starts: &[usize], ws: &mut Workspace) {
        debug_assert!(starts.len() <= ws.rows);
        self.gather(series, starts, ws);
        let (m, t, h) = (starts.len(), self.window, self.hidden);
        run_stack(&self.encoder, p, Input::Seq(&ws.x), t, m, &mut ws.enc);
        let enc_top = &ws.enc[self.encoder.len() - 1].h;
        let last = &enc_top[(t - 1) * m * h..t * m * h];
        match &self.latent {
            None => linear::forward(
                self.head.dims,
                &p[self.head.w.clone()],
                &p[self.head.b.clone()],
                last,
                m,
                &mut ws.y,
            ),
            Some(lat) => {
                linear::forward(
                    lat.dims,
                    &p[lat.w.clone()],
                    &p[lat.b.clone()],
                    last,
                    m,
                    &mut ws.z,
                );
                run_stack(&self.decoder, p, Input::Repeated(&ws.z), t, m, &mut ws.dec);
                let dec_top = &ws.dec[self.decoder.len() - 1].h;
                linear::forward(
                    self.head.dims,
                    &p[self.head.w.clone()],
                    &p[self.head.b.clone()],
                    dec_top,
                    t * m,
                    &mut ws.y,
                );
            }
        }
    }

    /// Writes `W_hhᵀ` of every LSTM layer into `out` (as long as the parameters) at `W_hh`'s
    /// offsets, for [`Network::train_chunk`]: once per optimiser step, not once per chunk.
    pub(crate) fn transpose_recurrent(&self, p: &[f32], out: &mut [f32]) {
        for layer in self.encoder.iter().chain(&self.decoder) {
            let at = layer.w_hh.clone();
            let (h, g) = (layer.dims.hidden, layer.dims.gates());
            transpose(&mut out[at.clone()], &p[at], h, g);
        }
    }

    /// Forward and backward pass on the windows at `starts`: adds the gradient of
    /// `scale · Σ loss` to `grad` and stores the unscaled loss sum in `ws.loss`. `p_t` holds
    /// the transposes written by [`Network::transpose_recurrent`] for `p`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn train_chunk(
        &self,
        p: &[f32],
        p_t: &[f32],
        series: &[f32],
        starts: &[usize],
        loss: Loss,
        scale: f32,
        ws: &mut Workspace,
        grad: &mut [f32],
    ) {
        self.forward(p, series, starts, ws);
        let (m, t, h) = (starts.len(), self.window, self.hidden);
        let outs = self.outputs() * m;
        ws.loss = loss_grad(
            loss,
            &ws.y[..outs],
            &ws.target[..outs],
            scale,
            &mut ws.dy[..outs],
        );
        let head_w = &p[self.head.w.clone()];
        match &self.latent {
            None => {
                let enc_top = &ws.enc[self.encoder.len() - 1].h;
                let last = &enc_top[(t - 1) * m * h..t * m * h];
                let (dw, db) = self.head.grads(grad);
                let dx = (&mut ws.dh_last[..], &mut ws.w_t[..]);
                linear::backward(self.head.dims, head_w, last, &ws.dy, m, dw, db, Some(dx));
                back_stack(
                    &self.encoder,
                    p,
                    p_t,
                    Input::Seq(&ws.x),
                    t,
                    m,
                    &ws.enc,
                    &mut ws.enc_back,
                    &ws.dh_last[..m * h],
                    [&mut ws.dh_a, &mut ws.dh_b],
                    grad,
                    None,
                );
            }
            Some(lat) => {
                let dec_top = &ws.dec[self.decoder.len() - 1].h;
                let (dw, db) = self.head.grads(grad);
                let dx = (&mut ws.dh_top[..], &mut ws.w_t[..]);
                linear::backward(
                    self.head.dims,
                    head_w,
                    dec_top,
                    &ws.dy,
                    t * m,
                    dw,
                    db,
                    Some(dx),
                );
                back_stack(
                    &self.decoder,
                    p,
                    p_t,
                    Input::Repeated(&ws.z),
                    t,
                    m,
                    &ws.dec,
                    &mut ws.dec_back,
                    &ws.dh_top[..t * m * h],
                    [&mut ws.dh_a, &mut ws.dh_b],
                    grad,
                    Some(&mut ws.dz),
                );
                let enc_top = &ws.enc[self.encoder.len() - 1].h;
                let last = &enc_top[(t - 1) * m * h..t * m * h];
                let (dw, db) = lat.grads(grad);
                let dx = (&mut ws.dh_last[..], &mut ws.w_t[..]);
                linear::backward(
                    lat.dims,
                    &p[lat.w.clone()],
                    last,
                    &ws.dz,
                    m,
                    dw,
                    db,
                    Some(dx),
                );
                back_stack(
                    &self.encoder,
                    p,
                    p_t,
                    Input::Seq(&ws.x),
                    t,
                    m,
                    &ws.enc,
                    &mut ws.enc_back,
                    &ws.dh_last[..m * h],
                    [&mut ws.dh_a, &mut ws.dh_b],
                    grad,
                    None,
                );
            }
        }
    }
}

fn stack(
    layout: &mut Layout,
    prefix: &str,
    input: usize,
    hidden: usize,
    layers: usize,
) -> Vec<LstmLayer> {
    (0..layers)
        .map(|l| {
            let dims = LstmDims {
                input: if l == 0 { input } else { hidden },
                hidden,
            };
            LstmLayer::new(layout, &format!("{prefix}.{l}"), dims)
        })
        .collect()
}

/// Forward through stacked layers: layer 0 reads `input`, layer `l` reads layer `l-1`'s `h`.
fn run_stack(
    layers: &[LstmLayer],
    p: &[f32],
    input: Input<'_>,
    t: usize,
    m: usize,
    caches: &mut [LstmCache],
) {
    for (l, layer) in layers.iter().enumerate() {
        let (below, here) = caches.split_at_mut(l);
        let inp = match below.last() {
            None => input,
            Some(prev) => Input::Seq(&prev.h),
        };
        lstm::forward(layer.dims, layer.weights(p), inp, t, m, &mut here[0]);
    }
}

/// Backward through stacked layers. `top` holds the gradient of the top layer's outputs (of
/// every step, or of the last steps only; see [`lstm::backward`]); the layers below pass
/// theirs through the two `scratch` buffers in turn; `dx0` receives the gradient of the
/// bottom layer's input.
#[allow(clippy::too_many_arguments)]
fn back_stack(
    layers: &[LstmLayer],
    p: &[f32],
    p_t: &[f32],
    input: Input<'_>,
    t: usize,
    m: usize,
    caches: &[LstmCache],
    backs: &mut [LstmBackWs],
    top: &[f32],
    scratch: [&mut Vec<f32>; 2],
    grad: &mut [f32],
    dx0: Option<&mut Vec<f32>>,
) {
    let [mut dh, mut spare] = scratch;
    let mut dx0 = dx0;
    for l in (0..layers.len()).rev() {
        let layer = &layers[l];
        let inp = if l == 0 {
            input
        } else {
            Input::Seq(&caches[l - 1].h)
        };
        let dh_in = if l + 1 == layers.len() {
            top
        } else {
            // The buffers hold a full chunk; the last chunk of a fit may have fewer windows.
            &dh[..t * m * layer.dims.hidden]
        };
        let dx = if l > 0 {
            Some(&mut spare[..])
        } else {
            dx0.as_mut().map(|v| &mut v[..])
        };
        lstm::backward(
            layer.dims,
            layer.weights(p),
            &p_t[layer.w_hh.clone()],
            inp,
            t,
            m,
            &caches[l],
            dh_in,
            &mut backs[l],
            layer.grads(grad),
            dx,
        );
        if l > 0 {
            std::mem::swap(&mut dh, &mut spare);
        }
    }
}

/// Per-chunk scratch space, allocated once per fit so the time-step loop never allocates.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    rows: usize,
    x: Vec<f32>,
    target: Vec<f32>,
    /// The network's output for the last chunk.
    pub(crate) y: Vec<f32>,
    dy: Vec<f32>,
    enc: Vec<LstmCache>,
    enc_back: Vec<LstmBackWs>,
    dec: Vec<LstmCache>,
    dec_back: Vec<LstmBackWs>,
    z: Vec<f32>,
    dz: Vec<f32>,
    /// Gradient of the decoder's outputs (the autoencoder's only).
    dh_top: Vec<f32>,
    /// Gradients passed down between stacked layers.
    dh_a: Vec<f32>,
    dh_b: Vec<f32>,
    /// Gradient of the encoder's last output.
    dh_last: Vec<f32>,
    w_t: Vec<f32>,
    /// Unscaled loss sum of the last chunk.
    pub(crate) loss: f64,
}

impl Workspace {
    /// The loss of the last forward pass (without gradient), for validation.
    pub(crate) fn eval_loss(&mut self, net: &Network, loss: Loss, m: usize) -> f64 {
        let outs = net.outputs() * m;
        loss_grad(
            loss,
            &self.y[..outs],
            &self.target[..outs],
            1.0,
            &mut self.dy[..outs],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.7).sin() + 0.3 * (i as f32 * 0.13).cos())
            .collect()
    }

    /// Loss `scale · Σ loss` at `p`, forward only.
    fn loss_at(
        net: &Network,
        p: &[f32],
        s: &[f32],
        starts: &[usize],
        loss: Loss,
        ws: &mut Workspace,
    ) -> f64 {
        net.forward(p, s, starts, ws);
        let scale = 1.0 / (starts.len() * net.outputs()) as f64;
        ws.eval_loss(net, loss, starts.len()) * scale
    }

    /// Central finite differences against the analytic gradient, tensor by tensor, in f32
    /// with step 1e-2. The difference quotient carries a rounding noise of about
    /// `4·ε·|L| / (2·step)` per entry (ε = f32 epsilon), a few 1e-6 here, so each entry and each
    /// tensor's norm is held to 1% (0.3% for the norm) plus that noise. Tensors with large
    /// gradients are thus checked to ~1e-3 relative: a 3% error in one gate's derivative fails.
    fn check_gradients(net: &Network, loss: Loss) {
        let s = series(40 * net.channels);
        let starts = [0usize, 7, 3, 19, 11];
        let mut p = net.init(7);
        // Push the weights away from the init so that every gate is exercised.
        for (i, v) in p.iter_mut().enumerate() {
            *v += 0.2 * ((i as f32) * 0.37).sin();
        }
        // Room for more windows than the chunk has, as for the last chunk of a fit.
        let mut ws = net.workspace(starts.len() + 3);
        let mut grad = vec![0.0f32; net.layout.len];
        let scale = 1.0 / (starts.len() * net.outputs()) as f32;
        let mut p_t = vec![0.0f32; p.len()];
        net.transpose_recurrent(&p, &mut p_t);
        net.train_chunk(&p, &p_t, &s, &starts, loss, scale, &mut ws, &mut grad);
        let eps = 1e-2f32;
        let l0 = loss_at(net, &p, &s, &starts, loss, &mut ws);
        let noise = 4.0 * f64::from(f32::EPSILON) * l0.abs() / (2.0 * f64::from(eps));
        for t in &net.layout.tensors {
            let (mut num2, mut diff2) = (0.0f64, 0.0f64);
            for i in t.range.clone() {
                let orig = p[i];
                p[i] = orig + eps;
                let up = loss_at(net, &p, &s, &starts, loss, &mut ws);
                p[i] = orig - eps;
                let down = loss_at(net, &p, &s, &starts, loss, &mut ws);
                p[i] = orig;
                let fd = (up - down) / (2.0 * f64::from(eps));
                let an = f64::from(grad[i]);
                assert!(
                    (fd - an).abs() < 5.0 * noise + 0.01 * fd.abs(),
                    "{:?} {} entry {}: finite difference {fd}, analytic {an}",
                    net.arch,
                    t.name,
                    i - t.range.start
                );
                num2 += fd * fd;
                diff2 += (fd - an) * (fd - an);
            }
            let tensor_noise = 3.0 * noise * (t.range.len() as f64).sqrt();
            let (err, norm) = (diff2.sqrt(), num2.sqrt());
            assert!(
                err < 3e-3 * norm + tensor_noise,
                "{:?} {}: gradient error {err:.3e} against norm {norm:.3e}",
                net.arch,
                t.name
            );
        }
    }

    #[test]
    fn forecaster_gradients_match_finite_differences() {
        check_gradients(&Network::forecaster(6, 3, 2), Loss::Mse);
        // Three features per step: the value and two covariates.
        check_gradients(&Network::forecaster_with(4, 3, 2, 3), Loss::Mse);
        // 16 hidden: 64 gate columns, whole SIMD vectors, so the per-step products take
        // `math::Streamed` instead of faer.
        check_gradients(&Network::forecaster(5, 16, 2), Loss::Mse);
    }

    #[test]
    fn autoencoder_gradients_match_finite_differences() {
        check_gradients(&Network::autoencoder(5, 3, 2, 2), Loss::Mse);
        check_gradients(&Network::autoencoder(4, 2, 1, 3), Loss::Mse);
        check_gradients(&Network::autoencoder(4, 16, 1, 2), Loss::Mse);
    }

    #[test]
    fn every_tensor_is_named_and_placed() {
        let net = Network::autoencoder(8, 4, 2, 3);
        let names: Vec<&str> = net.layout.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "encoder.0.w_ih",
                "encoder.0.w_hh",
                "encoder.0.b",
                "encoder.1.w_ih",
                "encoder.1.w_hh",
                "encoder.1.b",
                "latent.w",
                "latent.b",
                "decoder.0.w_ih",
                "decoder.0.w_hh",
                "decoder.0.b",
                "decoder.1.w_ih",
                "decoder.1.w_hh",
                "decoder.1.b",
                "head.w",
                "head.b"
            ]
        );
        assert_eq!(
            net.layout.tensors.last().map(|t| t.range.end),
            Some(net.layout.len)
        );
    }
}
