//! Mini-batch training: batches split into fixed chunks that rayon spreads over a pool built
//! per fit; each chunk has its own gradient buffer, summed in chunk order, so the same seed
//! gives bit-identical weights whatever the thread count. Also the parallel forward used for
//! validation and scoring.

use crate::Loss;
use crate::kernels::math::{AddRows, simd};
use crate::kernels::optim::{Adam, clip_grad_norm};
use crate::model::{Network, Workspace};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;
use tsad_core::{Error, FitContext, Progress};

/// Windows per parallel task. Fixed (not derived from the thread count) so results do not
/// depend on it, and small enough that a batch of 64 makes 8 tasks: when another process holds
/// a core, the thread that still runs steals the slow one's chunks instead of waiting for it.
/// Measured on the reference autoencoder (CPU seconds per epoch, one thread): 8 -> 3.73,
/// 16 -> 3.91, 32 -> 4.03; a chunk's step state then stays in L2 and `gemm`'s small-`m`
/// kernels are at least as fast.
pub(crate) const CHUNK: usize = 8;

/// Windows per parallel task when only predicting: no gradients are kept, so larger chunks
/// (better GEMM shapes) cost little memory. Fixed, so scores never depend on the thread count.
pub(crate) const PREDICT_CHUNK: usize = 32;

/// Hyper-parameters of one training run.
#[derive(Debug, Clone)]
pub(crate) struct TrainOptions {
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) learning_rate: f32,
    pub(crate) seed: u64,
    pub(crate) patience: usize,
    pub(crate) loss: Loss,
    pub(crate) grad_clip: Option<f32>,
    /// Progress stage name.
    pub(crate) stage: &'static str,
}

/// What happened during training.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct TrainLog {
    /// Mean training loss per epoch.
    pub(crate) train_loss: Vec<f64>,
    /// Mean validation loss per epoch (empty without validation).
    pub(crate) val_loss: Vec<f64>,
    /// 1-based epoch whose weights were kept.
    pub(crate) best_epoch: usize,
    /// True when early stopping ended training.
    pub(crate) stopped_early: bool,
    /// Wall-clock seconds spent training.
    pub(crate) seconds: f64,
}

/// A failure of the numerics (divergence), reported as [`Error::Backend`].
#[derive(Debug)]
pub(crate) struct NumericError(pub(crate) String);

impl std::fmt::Display for NumericError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NumericError {}

/// Builds a pool of `threads` workers for one fit or scoring run.
pub(crate) fn pool(threads: usize) -> Result<rayon::ThreadPool, Error> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("tsad-nn-{i}"))
        .build()
        .map_err(Error::backend)
}

/// The trainer's reusable state: workspaces and gradient buffers, one per chunk of a batch.
#[derive(Debug)]
pub(crate) struct Trainer<'n> {
    net: &'n Network,
    opts: TrainOptions,
    workspaces: Vec<Workspace>,
    grads: Vec<Vec<f32>>,
    /// `W_hhᵀ` of every layer, at `W_hh`'s offsets ([`Network::transpose_recurrent`]).
    p_t: Vec<f32>,
    adam: Adam,
    rng: ChaCha8Rng,
    sched: Schedule,
}

/// Chooses, batch by batch, between spreading chunks over the pool and running them on the
/// calling thread. Both give bit-identical results (same chunks, same summation order), so the
/// choice is free to follow measured speed: when another process holds a core, a chunk stuck
/// on a descheduled worker stalls every batch, and one thread is faster than two. The
/// faster mode (by a moving average of seconds per window) runs, with a bias for the pool
/// because timings on a busy machine are noisy and a wrong switch to one thread costs more
/// than a wrong stay at two; the other mode is re-measured for [`PROBE_BATCHES`] batches every
/// [`PROBE_EVERY`] batches.
#[derive(Debug, Clone, Default)]
struct Schedule {
    batch: u64,
    parallel: Option<f64>,
    serial: Option<f64>,
}

/// Batches between two probes of the mode not in use.
const PROBE_EVERY: u64 = 64;
/// Batches each probe lasts.
const PROBE_BATCHES: u64 = 2;
/// One thread replaces the pool only when it takes less than this fraction of the pool's
/// time per window.
const SERIAL_MARGIN: f64 = 0.8;

impl Schedule {
    /// True when the next batch should use the pool.
    fn parallel(&self, threads: usize) -> bool {
        if threads <= 1 {
            return false;
        }
        let (par, ser) = match (self.parallel, self.serial) {
            (None, _) => return true,
            (Some(_), None) => return false,
            (Some(p), Some(s)) => (p, s),
        };
        let best_parallel = par <= ser / SERIAL_MARGIN;
        let probing = self.batch % PROBE_EVERY < PROBE_BATCHES;
        best_parallel != probing
    }

    fn record(&mut self, parallel: bool, seconds_per_window: f64) {
        self.batch += 1;
        let slot = if parallel {
            &mut self.parallel
        } else {
            &mut self.serial
        };
        *slot = Some(match *slot {
            None => seconds_per_window,
            Some(old) => 0.7 * old + 0.3 * seconds_per_window,
        });
    }
}

impl<'n> Trainer<'n> {
    pub(crate) fn new(net: &'n Network, opts: TrainOptions) -> Self {
        let chunks = opts.batch_size.div_ceil(CHUNK).max(1);
        let rows = opts.batch_size.min(CHUNK);
        Trainer {
            net,
            workspaces: (0..chunks).map(|_| net.workspace(rows)).collect(),
            grads: vec![vec![0.0; net.layout.len]; chunks],
            p_t: vec![0.0; net.layout.len],
            adam: Adam::new(net.layout.len, opts.learning_rate),
            // Decorrelate the shuffling stream from the weight-init stream of the same seed.
            rng: ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5DEE_CE66_D1CE_4E5B),
            sched: Schedule::default(),
            opts,
        }
    }

    /// One optimiser step on the windows at `starts`; returns the batch's mean loss.
    pub(crate) fn step(
        &mut self,
        pool: &rayon::ThreadPool,
        p: &mut [f32],
        series: &[f32],
        starts: &[usize],
    ) -> f64 {
        let net = self.net;
        let n_chunks = starts.len().div_ceil(CHUNK);
        let scale = 1.0 / (starts.len() * net.outputs()) as f32;
        let loss = self.opts.loss;
        net.transpose_recurrent(p, &mut self.p_t);
        let (params, p_t): (&[f32], &[f32]) = (p, &self.p_t);
        let ws = &mut self.workspaces[..n_chunks];
        let grads = &mut self.grads[..n_chunks];
        let run = |c: usize, ws: &mut Workspace, g: &mut Vec<f32>| {
            let chunk = &starts[c * CHUNK..((c + 1) * CHUNK).min(starts.len())];
            g.fill(0.0);
            net.train_chunk(params, p_t, series, chunk, loss, scale, ws, g);
        };
        let parallel = self.sched.parallel(pool.current_num_threads());
        let started = Instant::now();
        if parallel {
            pool.install(|| {
                ws.par_iter_mut()
                    .zip(grads.par_iter_mut())
                    .enumerate()
                    .for_each(|(c, (ws, g))| run(c, ws, g));
            });
        } else {
            for (c, (ws, g)) in ws.iter_mut().zip(grads.iter_mut()).enumerate() {
                run(c, ws, g);
            }
        }
        let per_window = started.elapsed().as_secs_f64() / starts.len() as f64;
        self.sched.record(parallel, per_window);
        // Fixed summation order: chunk 0, then 1, 2, ... whoever computed them.
        let (first, rest) = grads.split_at_mut(1);
        let total = &mut first[0];
        for g in rest.iter() {
            simd(AddRows {
                acc: total,
                rows: g,
            });
        }
        if let Some(max) = self.opts.grad_clip {
            clip_grad_norm(total, max);
        }
        self.adam.update(p, total);
        let sum: f64 = self.workspaces[..n_chunks].iter().map(|w| w.loss).sum();
        sum * f64::from(scale)
    }

    /// Trains `p` on windows `train`, validating on `val` after each epoch, with early
    /// stopping after `patience` epochs without improvement; keeps the best epoch's weights.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] when `ctx` is cancelled (checked between batches);
    /// [`Error::Backend`] when the loss stops being finite.
    pub(crate) fn fit(
        &mut self,
        pool: &rayon::ThreadPool,
        p: &mut Vec<f32>,
        series: &[f32],
        train: &[usize],
        val: &[usize],
        ctx: &FitContext,
    ) -> Result<TrainLog, Error> {
        let start = Instant::now();
        let epochs = self.opts.epochs;
        let bs = self.opts.batch_size.max(1);
        let batches = train.len().div_ceil(bs);
        let total_batches = (epochs * batches).max(1);
        let mut log = TrainLog::default();
        let mut order = train.to_vec();
        let mut best: Option<(f64, Vec<f32>)> = None;
        let mut since_best = 0usize;
        let mut last_report = Instant::now();
        let stage = self.opts.stage.to_owned();
        ctx.report(&Progress {
            stage: stage.clone(),
            epochs,
            batches,
            ..Progress::default()
        });
        for epoch in 1..=epochs {
            shuffle(&mut order, &mut self.rng);
            let mut sum = 0.0f64;
            for (b, starts) in order.chunks(bs).enumerate() {
                ctx.check_cancelled()?;
                let l = self.step(pool, p, series, starts);
                if !l.is_finite() {
                    return Err(Error::backend(NumericError(format!(
                        "training diverged at epoch {epoch}, batch {}: the loss is {l}; \
                         lower `learning_rate` or set `grad_clip`",
                        b + 1
                    ))));
                }
                sum += l * starts.len() as f64;
                let done = (epoch - 1) * batches + b + 1;
                if last_report.elapsed().as_millis() >= 100 || b + 1 == batches {
                    last_report = Instant::now();
                    let fraction = done as f64 / total_batches as f64;
                    let elapsed = start.elapsed().as_secs_f64();
                    ctx.report(&Progress {
                        stage: stage.clone(),
                        epoch,
                        epochs,
                        batch: b + 1,
                        batches,
                        train_loss: Some(sum / (b * bs + starts.len()) as f64),
                        val_loss: log.val_loss.last().copied(),
                        eta_seconds: Some(elapsed / fraction * (1.0 - fraction)),
                        fraction,
                    });
                }
            }
            log.train_loss.push(sum / train.len().max(1) as f64);
            let monitored = if val.is_empty() {
                None
            } else {
                let v = self.evaluate(pool, p, series, val);
                log.val_loss.push(v);
                Some(v)
            };
            match monitored {
                Some(v) if best.as_ref().is_none_or(|(b, _)| v < *b) => {
                    best = Some((v, p.clone()));
                    log.best_epoch = epoch;
                    since_best = 0;
                }
                Some(_) => {
                    since_best += 1;
                    if self.opts.patience > 0 && since_best >= self.opts.patience {
                        log.stopped_early = true;
                        break;
                    }
                }
                None => log.best_epoch = epoch,
            }
        }
        if let Some((_, w)) = best {
            *p = w;
        }
        log.seconds = start.elapsed().as_secs_f64();
        Ok(log)
    }

    /// Mean loss over the windows at `starts`, forward only.
    pub(crate) fn evaluate(
        &mut self,
        pool: &rayon::ThreadPool,
        p: &[f32],
        series: &[f32],
        starts: &[usize],
    ) -> f64 {
        let net = self.net;
        let loss = self.opts.loss;
        let mut sum = 0.0;
        let per_round = self.workspaces.len() * CHUNK;
        for block in starts.chunks(per_round) {
            let n_chunks = block.len().div_ceil(CHUNK);
            let ws = &mut self.workspaces[..n_chunks];
            pool.install(|| {
                ws.par_iter_mut().enumerate().for_each(|(c, ws)| {
                    let chunk = &block[c * CHUNK..((c + 1) * CHUNK).min(block.len())];
                    net.forward(p, series, chunk, ws);
                    ws.loss = ws.eval_loss(net, loss, chunk.len());
                });
            });
            sum += self.workspaces[..n_chunks]
                .iter()
                .map(|w| w.loss)
                .sum::<f64>();
        }
        sum / (starts.len() * net.outputs()).max(1) as f64
    }
}

/// Fisher-Yates with the trainer's seeded generator.
fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Runs the network forward over every window start in `starts` (in order) and hands each
/// chunk's starts and outputs to `sink`, in order, so accumulations are deterministic.
/// Memory stays bounded: only `4 × threads` chunks are in flight.
pub(crate) fn predict(
    net: &Network,
    p: &[f32],
    series: &[f32],
    starts: impl Iterator<Item = usize>,
    threads: usize,
    pool: &rayon::ThreadPool,
    sink: impl FnMut(&[usize], &[f32]),
) {
    let never = FitContext::new();
    // A context nobody can cancel: the result is always Ok.
    let _ = predict_with(net, p, series, starts, threads, pool, sink, &never);
}

/// [`predict`] that stops with [`Error::Cancelled`] once `ctx` is cancelled, checked before
/// each block of chunks (a fraction of a second of work), and reports progress (stage
/// `"score"`, with an ETA) at every whole percent of the windows when their count is known.
#[allow(clippy::too_many_arguments)]
pub(crate) fn predict_with(
    net: &Network,
    p: &[f32],
    series: &[f32],
    starts: impl Iterator<Item = usize>,
    threads: usize,
    pool: &rayon::ThreadPool,
    mut sink: impl FnMut(&[usize], &[f32]),
    ctx: &FitContext,
) -> Result<(), Error> {
    let n_ws = 4 * threads.max(1);
    let mut workspaces: Vec<Workspace> = (0..n_ws).map(|_| net.workspace(PREDICT_CHUNK)).collect();
    let mut block: Vec<usize> = Vec::with_capacity(n_ws * PREDICT_CHUNK);
    let total = starts.size_hint().1.filter(|&t| t > 0);
    let (started, mut done, mut percent) = (Instant::now(), 0, 0);
    let mut starts = starts.peekable();
    while starts.peek().is_some() {
        ctx.check_cancelled()?;
        block.clear();
        block.extend(starts.by_ref().take(n_ws * PREDICT_CHUNK));
        let n_chunks = block.len().div_ceil(PREDICT_CHUNK);
        let ws = &mut workspaces[..n_chunks];
        let blk = &block;
        pool.install(|| {
            ws.par_iter_mut().enumerate().for_each(|(c, ws)| {
                let chunk = &blk[c * PREDICT_CHUNK..((c + 1) * PREDICT_CHUNK).min(blk.len())];
                net.forward(p, series, chunk, ws);
            });
        });
        for (c, ws) in workspaces[..n_chunks].iter().enumerate() {
            let chunk = &block[c * PREDICT_CHUNK..((c + 1) * PREDICT_CHUNK).min(block.len())];
            sink(chunk, &ws.y[..chunk.len() * net.outputs()]);
        }
        done += block.len();
        if let Some(total) = total
            && done * 100 / total > percent
        {
            percent = done * 100 / total;
            let fraction = (done as f64 / total as f64).min(1.0);
            ctx.report(&Progress {
                stage: "score".into(),
                fraction,
                eta_seconds: Some(started.elapsed().as_secs_f64() * (1.0 - fraction) / fraction),
                ..Progress::default()
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the schedule with fixed speeds and returns the modes it picked.
    fn picks(threads: usize, par_cost: f64, ser_cost: f64, batches: usize) -> Vec<bool> {
        let mut s = Schedule::default();
        (0..batches)
            .map(|_| {
                let par = s.parallel(threads);
                s.record(par, if par { par_cost } else { ser_cost });
                par
            })
            .collect()
    }

    #[test]
    fn schedule_follows_the_faster_mode_and_probes_the_other() {
        assert!(
            picks(1, 1.0, 2.0, 10).iter().all(|p| !p),
            "one thread never uses the pool"
        );
        let fast_pool = picks(2, 1.0, 2.0, 200);
        assert_eq!(&fast_pool[..3], &[true, false, true]);
        let serial: Vec<usize> = (0..200).filter(|&i| !fast_pool[i]).collect();
        assert_eq!(
            serial,
            [1, 64, 65, 128, 129, 192, 193],
            "probes every {PROBE_EVERY} batches"
        );
        let slow_pool = picks(2, 3.0, 2.0, 200);
        assert_eq!(slow_pool.iter().filter(|p| **p).count(), 1 + 3 * 2);
    }
}
