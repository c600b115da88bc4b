//! The numeric kernels: GEMM and activations, the LSTM layer with its backward pass through
//! time, the linear layer, losses, Adam and gradient clipping.

pub(crate) mod linear;
pub(crate) mod lstm;
pub(crate) mod math;
pub(crate) mod optim;
