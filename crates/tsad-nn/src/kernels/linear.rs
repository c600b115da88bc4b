//! A fully connected layer `y = x·W + b` over row-major batches, and its backward pass.

use super::math::{Acc, AddBias, AddRows, matmul, matmul_tn, simd, transpose};

/// Sizes of one linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinearDims {
    pub(crate) input: usize,
    pub(crate) output: usize,
}

/// `y (rows×out) = x (rows×in) · W (in×out) + b`.
pub(crate) fn forward(d: LinearDims, w: &[f32], b: &[f32], x: &[f32], rows: usize, y: &mut [f32]) {
    matmul(y, x, w, rows, d.input, d.output, Acc::Replace);
    simd(AddBias {
        rows: &mut y[..rows * d.output],
        bias: &b[..d.output],
    });
}

/// Adds `xᵀ·dy` to `dw` and the column sums of `dy` to `db`; when `dx` is given, overwrites it
/// with `dy·Wᵀ` (using `w_t`, scratch of `in·out` floats, for the transpose).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    d: LinearDims,
    w: &[f32],
    x: &[f32],
    dy: &[f32],
    rows: usize,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<(&mut [f32], &mut [f32])>,
) {
    matmul_tn(dw, x, dy, rows, d.input, d.output, Acc::Add);
    simd(AddRows {
        acc: &mut db[..d.output],
        rows: &dy[..rows * d.output],
    });
    if let Some((dx, w_t)) = dx {
        transpose(w_t, w, d.input, d.output);
        matmul(dx, dy, w_t, rows, d.output, d.input, Acc::Replace);
    }
}
