//! Losses, Adam and gradient clipping over flat parameter vectors.

use super::math::{Scale, simd};
use crate::Loss;

/// Writes the gradient of `scale · Σ loss(y - target)` with respect to `y` into `dy` and
/// returns the unscaled sum of the loss terms (in `f64`, so that long batches stay exact
/// enough for reporting).
pub(crate) fn loss_grad(loss: Loss, y: &[f32], target: &[f32], scale: f32, dy: &mut [f32]) -> f64 {
    let mut sum = 0.0f64;
    for ((d, &yv), &tv) in dy.iter_mut().zip(y).zip(target) {
        let e = yv - tv;
        match loss {
            Loss::Mse => {
                sum += f64::from(e * e);
                *d = 2.0 * scale * e;
            }
            Loss::L1 => {
                sum += f64::from(e.abs());
                *d = if e > 0.0 {
                    scale
                } else if e < 0.0 {
                    -scale
                } else {
                    0.0
                };
            }
        }
    }
    sum
}

/// Scales `grad` so that its Euclidean norm is at most `max_norm`; returns the norm before.
pub(crate) fn clip_grad_norm(grad: &mut [f32], max_norm: f32) -> f32 {
    let norm = grad
        .iter()
        .map(|g| f64::from(*g) * f64::from(*g))
        .sum::<f64>()
        .sqrt() as f32;
    if norm > max_norm && norm.is_finite() {
        let s = max_norm / (norm + 1e-6);
        simd(Scale { v: grad, factor: s });
    }
    norm
}

/// Adam (Kingma & Ba), with PyTorch's defaults `β = (0.9, 0.999)`, `ε = 1e-8`.
#[derive(Debug, Clone)]
pub(crate) struct Adam {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    step: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    pub(crate) fn new(len: usize, lr: f32) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// One update of `params` with `grad`.
    pub(crate) fn update(&mut self, params: &mut [f32], grad: &[f32]) {
        self.step = self.step.saturating_add(1);
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let c1 = 1.0 - b1.powi(self.step);
        let c2 = 1.0 - b2.powi(self.step);
        let step_size = self.lr / c1;
        let c2_sqrt = c2.sqrt();
        simd(AdamUpdate {
            params,
            grad,
            m: &mut self.m,
            v: &mut self.v,
            b1,
            b2,
            eps,
            step_size,
            c2_sqrt,
        });
    }
}

/// The element-wise part of [`Adam::update`], vectorised.
struct AdamUpdate<'a> {
    params: &'a mut [f32],
    grad: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    b1: f32,
    b2: f32,
    eps: f32,
    step_size: f32,
    c2_sqrt: f32,
}

impl pulp::WithSimd for AdamUpdate<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let (b1, b2, eps, step, c2s) = (self.b1, self.b2, self.eps, self.step_size, self.c2_sqrt);
        let it = self
            .params
            .iter_mut()
            .zip(self.grad)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut());
        for (((p, g), m), v) in it {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step * *m / ((*v).sqrt() / c2s + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut p = vec![3.0f32, -2.0];
        let mut adam = Adam::new(2, 0.1);
        for _ in 0..500 {
            let g = vec![2.0 * p[0], 2.0 * (p[1] + 1.0)];
            adam.update(&mut p, &g);
        }
        assert!(p[0].abs() < 1e-2 && (p[1] + 1.0).abs() < 1e-2, "{p:?}");
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut g = vec![3.0f32, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5);
        let mut small = vec![0.1f32];
        clip_grad_norm(&mut small, 1.0);
        assert_eq!(small, vec![0.1]);
    }

    #[test]
    fn loss_values_and_gradients() {
        let y = [1.0f32, 2.0, 3.0];
        let t = [0.0f32, 2.0, 5.0];
        let mut dy = [0.0f32; 3];
        assert_eq!(loss_grad(Loss::Mse, &y, &t, 0.5, &mut dy), 5.0);
        assert_eq!(dy, [1.0, 0.0, -2.0]);
        assert_eq!(loss_grad(Loss::L1, &y, &t, 0.5, &mut dy), 3.0);
        assert_eq!(dy, [0.5, 0.0, -0.5]);
    }
}
