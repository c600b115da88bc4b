//! STL and MSTL as `stlrs` 0.4 computes them (Unlicense OR MIT; itself a port of netlib's
//! `stl`, Cleveland et al. 1990; MSTL after Bandara, Hyndman & Bergmeir 2021): the same
//! parameters, passes and local fits, with the arithmetic of each fit rearranged for speed.
//!
//! - **One pass per local fit.** netlib normalises a fit's weights, then takes their centre,
//!   their spread and the fitted value in three more passes, with a division per point. Here
//!   one pass sums w, w·t, w·t², w·y and w·t·y (t counted from the window's start, so nothing
//!   cancels) and the local line follows from those five sums; the pass runs a vector
//!   register at a time (`pulp` picks AVX2 or what the CPU has).
//! - **Shared kernels.** Almost every fit of a smoothing pass has the same window shape (the
//!   interior ones), so its tricube kernel is computed once per pass, not once per fit.
//! - **Every core on long series.** From [`PARALLEL_FROM`] points the local fits of a
//!   smoothing pass, and the cycle-subseries of the seasonal pass, are split across threads
//!   (each with its own scratch). Every fit is computed alone, so the result is the same to
//!   the bit on any number of threads. On the 2-core development machine a default `seasonal`
//!   run on the 1,000,000-point demo took 0.70-0.75 of its one-thread wall time for the same
//!   CPU time (about 3 s); the passes left on one thread (moving averages, the robustness
//!   weights' median, copies back in time order) are about half the work.
//! - **Robustness weights by selection.** The median absolute residual is taken with
//!   `select_nth_unstable` (O(n)) instead of sorting the residuals (O(n log n)) on every one
//!   of the 15 robustness passes; the selected values are the same.
//!
//! The sums are added in another order than netlib's, so results differ from `stlrs` by
//! rounding; the test `matches_stlrs` bounds the difference (1e-7 of the series' scale).
//!
//! Three choices differ from `stlrs`'s defaults on purpose: one period's seasonal window
//! ([`seasonal_window`]: 11 cycles on a long series where `stlrs` takes `period` cycles), its
//! degree ([`seasonal_degree`]: a line per phase where the window spans every one of at least
//! [`LINE_CYCLES`] cycles, where `stlrs` fits a constant), and what the cycle-subseries
//! smoother fits where a window's robustness weights are all 0 ([`Unweighted::Median`]: the
//! median of the window, where netlib keeps the point's own value). `matches_stlrs` compares
//! with `stlrs` given the same window and degree and netlib's choice.

use tsad_core::stats;

/// Trend + season of `x` by STL with `period` (at least 2; `x` holds at least two cycles), as
/// `stlrs::params().seasonal_length(ns).robust(robust).fit(x, period)` computes them
/// (`seasonal + trend`), with the seasonal window of [`seasonal_window`] and the degree of
/// [`seasonal_degree`], except where a cycle-subseries window has no robustness weight
/// ([`Unweighted::Median`]).
pub(crate) fn stl_fit(x: &[f64], period: usize, robust: bool) -> Option<Vec<f64>> {
    stl_sized(x, period, x.len(), robust)
}

/// [`stl_fit`] with the seasonal window and degree of a series of `n` points, whatever `x`'s
/// own length ([`self_weight`] fits a short impulse as the whole series would be fitted).
fn stl_sized(x: &[f64], period: usize, n: usize, robust: bool) -> Option<Vec<f64>> {
    stl_on(
        x,
        period,
        seasonal_window(period, n),
        seasonal_degree(period, n),
        robust,
        Unweighted::Median,
        workers_for(x.len()),
    )
}

/// Cycles the seasonal smoother spans on a long series: MSTL's window for its shortest period,
/// and one period's (see [`seasonal_window`]).
pub(crate) const SEASONAL_CYCLES: usize = 11;

/// The seasonal window of one `period` on `n` points, in cycles (netlib's `ns`; made odd and
/// at least 3 by `Params`): [`SEASONAL_CYCLES`] on a series of at least `period` cycles,
/// `SEASONAL_CYCLES · period / C` on one of `C` cycles, and at most `period` (`stlrs`'s
/// default, kept for periods below [`SEASONAL_CYCLES`]).
///
/// A window of 11 cycles lets the seasonal curve follow a cycle that drifts: a swing whose
/// period is not a whole number of points (a sine of period 62.83 in a series of 5,000 points
/// read with period 63 slips 0.17 points a cycle, 14 over the series) or a daily pattern that
/// changes with the season. A window of `period` cycles (`stlrs`'s default, 127 for a period
/// of 126) holds one curve for the whole series: on sines of period 45.9, 62.8 and 125.7 over
/// 2,000-10,000 points its residuals swung by up to 5 noise σ, and the default preset found 7
/// of 18 spikes of 8 σ (3 seeds, 2 spikes each), 18 with 11 cycles. On a series of few cycles
/// the window stays much wider than the series, which weighs every cycle about alike: a window
/// of 11 cycles on 4 weighs the spike's own cycle so much more than the others that robustness
/// could not keep the spike out of the seasonal curve (measured before [`Unweighted::Median`]:
/// on 200 series of 300 points with a 75-point swing read as 74, 5 of 29 spikes found instead
/// of 29).
pub(crate) fn seasonal_window(period: usize, n: usize) -> usize {
    let cycles = n as f64 / period.max(1) as f64;
    // A float converts to an integer saturating (an empty series: the widest window).
    let wide = (SEASONAL_CYCLES as f64 * period as f64 / cycles).ceil() as usize;
    wide.max(SEASONAL_CYCLES).min(period)
}

/// Cycles from which a seasonal window that spans the whole series fits each phase with a line.
pub(crate) const LINE_CYCLES: usize = 8;

/// The degree of one `period`'s cycle-subseries smoother on `n` points (netlib's `isdeg`): 1
/// (a local line) where [`seasonal_window`] spans every one of at least [`LINE_CYCLES`]
/// cycles, else 0 (a local constant, `stlrs`'s default).
///
/// A window that spans the whole series fits one value per phase, a cycle fixed for the whole
/// series. A cycle whose period is not a whole number of points slips a little each cycle
/// against the integer period STL reads it with: a swing of 75.4 points read as 75 is 2.6
/// points off at each end of 1,000 points, and a constant per phase left residuals that grew
/// towards both ends. A line per phase follows that slip (and an amplitude that grows or
/// shrinks). On fewer cycles, one anomalous cycle would tilt the line (a spike among 4 points
/// of a phase), so a constant stays. On 2,000 series of 1,000 points of a 75.4-point swing
/// (`bench/fleet_data.py 2000 1000 F 75.398`) the default preset raised 47 false events with a
/// constant per phase, every one of them in the first or last 150 points, and 28 with a line,
/// every spike found either way (the same 28 with 6 or 10 as the least number of cycles).
pub(crate) fn seasonal_degree(period: usize, n: usize) -> i32 {
    let cycles = n / period.max(1);
    i32::from(cycles >= LINE_CYCLES && seasonal_window(period, n) >= cycles)
}

/// Where each phase of one `period`'s decomposition of `n` points is fitted with a line
/// ([`seasonal_degree`]): how much more of its own value it puts into the fit of point `i`
/// than into a point's in the series' middle (what [`self_weight`] measures), a least-squares
/// line's leverage at the point's cycle `k` of its phase's `C` cycles over the line's in the
/// middle, `(k - (C - 1) / 2)² / (C (C² - 1) / 12)`, up to 0.29 in the first and last of 8
/// cycles. `None` where a phase is a constant or a local fit, which weigh the cycles about
/// alike. (The window spans the phase with room to spare, so its weights are close to
/// uniform.)
pub(crate) fn line_leverage(period: usize, n: usize) -> Option<impl Fn(usize) -> f64> {
    (seasonal_degree(period, n) == 1).then_some(move |i: usize| {
        let cycles = (n - i % period).div_ceil(period) as f64;
        let from_middle = (i / period) as f64 - (cycles - 1.0) / 2.0;
        from_middle * from_middle / (cycles * (cycles * cycles - 1.0) / 12.0)
    })
}

/// [`stl_fit`] with seasonal window `ns` and degree `isdeg` on `workers` threads (the same
/// result on any number).
fn stl_on(
    x: &[f64],
    period: usize,
    ns: usize,
    isdeg: i32,
    robust: bool,
    unweighted: Unweighted,
    workers: usize,
) -> Option<Vec<f64>> {
    let n = x.len();
    if period < 2 || n / 2 < period {
        return None;
    }
    let mut season = vec![0.0; n];
    let mut trend = vec![0.0; n];
    let mut buffers = Buffers::new(n, period, workers);
    let params = Params {
        unweighted,
        isdeg,
        ..Params::new(period, Some(ns), robust)
    };
    params.run(x, &mut season, &mut trend, &mut buffers);
    Some(season.iter().zip(&trend).map(|(s, t)| s + t).collect())
}

/// Trend + seasons of `x` by MSTL with `periods` (each at least 2 and at most half of `x`), as
/// `stlrs::MstlParams::new()` with those STL parameters computes them (two iterations, no
/// Box-Cox, seasonal windows 11, 15, ... from the shortest period), except where a
/// cycle-subseries window has no robustness weight ([`Unweighted::Median`]): the trend plus
/// each season in the order of `periods`.
pub(crate) fn mstl_fit(x: &[f64], periods: &[usize], robust: bool) -> Option<Vec<f64>> {
    mstl_on(x, periods, robust, Unweighted::Median, workers_for(x.len()))
}

/// [`mstl_fit`] on `workers` threads (the same result on any number).
fn mstl_on(
    x: &[f64],
    periods: &[usize],
    robust: bool,
    unweighted: Unweighted,
    workers: usize,
) -> Option<Vec<f64>> {
    let n = x.len();
    if periods.is_empty() || periods.iter().any(|&p| p < 2 || n / 2 < p) {
        return None;
    }
    let mut order: Vec<usize> = (0..periods.len()).collect();
    order.sort_by_key(|&i| periods[i]);
    let iterations = if periods.len() == 1 { 1 } else { 2 };
    let mut seasons = vec![vec![0.0; n]; periods.len()];
    let mut trend = vec![0.0; n];
    let mut deseasoned = x.to_vec();
    let mut buffers = Buffers::new(n, *periods.iter().max()?, workers);
    for iteration in 0..iterations {
        for (rank, &i) in order.iter().enumerate() {
            if iteration > 0 {
                for (d, s) in deseasoned.iter_mut().zip(&seasons[i]) {
                    *d += *s;
                }
            }
            let params = Params {
                unweighted,
                ..Params::new(periods[i], Some(mstl_window(rank)), robust)
            };
            trend.fill(0.0);
            params.run(&deseasoned, &mut seasons[i], &mut trend, &mut buffers);
            for (d, s) in deseasoned.iter_mut().zip(&seasons[i]) {
                *d -= *s;
            }
        }
    }
    let mut fit = trend;
    for s in &seasons {
        for (f, v) in fit.iter_mut().zip(s) {
            *f += v;
        }
    }
    Some(fit)
}

/// Trend + season(s) of `x`: [`stl_fit`] for one period, [`mstl_fit`] for several.
pub(crate) fn fit(x: &[f64], periods: &[usize], robust: bool) -> Option<Vec<f64>> {
    match periods {
        [period] => stl_fit(x, *period, robust),
        _ => mstl_fit(x, periods, robust),
    }
}

/// Series from this many points are decomposed on every core (see [`workers_for`]).
const PARALLEL_FROM: usize = 1 << 15;

/// Most threads one decomposition uses.
const MAX_WORKERS: usize = 8;

/// Fewest multiply-adds (fits times window) for a smoothing pass to be split across threads.
const PARALLEL_WORK: usize = 1 << 17;

/// The threads a decomposition of `n` points runs on: one below [`PARALLEL_FROM`], else as
/// many as there are cores (up to [`MAX_WORKERS`]). Every local fit is computed alone, so
/// the result is the same on any number of threads; only the wall time changes.
fn workers_for(n: usize) -> usize {
    if n < PARALLEL_FROM {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |c| c.get().min(MAX_WORKERS))
}

/// Runs `work` on each of `parts`: the first on this thread, the others on threads of their
/// own, and returns when all are done.
fn on_workers<T: Send>(parts: Vec<T>, work: impl Fn(T) + Sync) {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else { return };
    let work = &work;
    std::thread::scope(|scope| {
        for part in parts {
            scope.spawn(move || work(part));
        }
        work(first);
    });
}

/// MSTL's seasonal window for the period of rank `rank` (0 for the shortest): 11, 15, ...
fn mstl_window(rank: usize) -> usize {
    SEASONAL_CYCLES + 4 * rank
}

/// How much of a point's own value the decomposition of `n` points with `periods` (as
/// [`fit`] decomposes them) puts into the point's fit, without
/// robustness weights: the diagonal of its hat matrix, the fit at a unit impulse in the
/// series' middle. `None` when the periods cannot be decomposed. The decomposition is linear,
/// so this depends on the periods and the length only; the impulse sits in a series of at most
/// twice [`Params::span`] points, where every smoother reaches its interior shape, so a long
/// series costs no more than a short one. In the interior it varies little with the place
/// (the smoothers fit every few points and interpolate between): 0.269-0.273 for periods 24
/// and 168 (0.2715 in the middle); for one period it follows the seasonal window
/// ([`seasonal_window`]): 0.20 for 24 alone (11 cycles), 0.18 for 288 alone on 100,000 points
/// (11 cycles) and 0.033 on 10,000 (92 cycles, a line per phase; 0.034 with a constant).
pub(crate) fn self_weight(periods: &[usize], n: usize) -> Option<f64> {
    let longest = *periods.iter().max()?;
    let mut sorted = periods.to_vec();
    sorted.sort_unstable();
    // The seasonal windows as `fit` gives them: STL's own for one period, MSTL's from the
    // shortest period for several.
    let span = sorted
        .iter()
        .enumerate()
        .map(|(rank, &p)| {
            let ns = match periods {
                [_] => seasonal_window(p, n),
                _ => mstl_window(rank),
            };
            Params::new(p, Some(ns), false).span()
        })
        .max()?;
    let len = n.min(2 * span + longest);
    let mid = len / 2;
    let mut x = vec![0.0; len];
    x[mid] = 1.0;
    // One period's window depends on the whole series' length, not the impulse's.
    let fitted = match periods {
        [p] => stl_sized(&x, *p, n, false)?,
        _ => mstl_fit(&x, periods, false)?,
    };
    Some(fitted[mid])
}

/// netlib's parameters, derived from the period as `stlrs` derives them.
struct Params {
    np: usize,
    ns: usize,
    nt: usize,
    nl: usize,
    isdeg: i32,
    itdeg: i32,
    ildeg: i32,
    nsjump: usize,
    ntjump: usize,
    nljump: usize,
    ni: usize,
    no: usize,
    /// What the cycle-subseries smoother fits where its robustness weights are all 0.
    unweighted: Unweighted,
}

impl Params {
    fn new(period: usize, seasonal_length: Option<usize>, robust: bool) -> Self {
        let np = period;
        let mut ns = seasonal_length.unwrap_or(np).max(3);
        if ns.is_multiple_of(2) {
            ns += 1;
        }
        // In f32, as stlrs computes it.
        let mut nt = ((1.5 * np as f32) / (1.0 - 1.5 / ns as f32)).ceil() as usize;
        nt = nt.max(3);
        if nt.is_multiple_of(2) {
            nt += 1;
        }
        let mut nl = np.max(3);
        if nl.is_multiple_of(2) {
            nl += 1;
        }
        let jump = |len: usize| (len as f32 / 10.0).ceil() as usize;
        Params {
            np,
            ns,
            nt,
            nl,
            isdeg: 0,
            itdeg: 1,
            ildeg: 1,
            nsjump: jump(ns),
            ntjump: jump(nt),
            nljump: jump(nl),
            ni: if robust { 1 } else { 2 },
            no: if robust { 15 } else { 0 },
            unweighted: Unweighted::Median,
        }
    }

    /// Points on either side of a point that its fit depends on: the seasonal smoother's
    /// cycles (and one more at each end), the low-pass filter and the trend's window.
    fn span(&self) -> usize {
        (self.ns + 2) * self.np + 3 * self.np + self.nl + 2 * self.nt
    }

    /// netlib's `stl`: inner passes, then `no` robustness passes. `trend` starts at zero.
    fn run(&self, y: &[f64], season: &mut [f64], trend: &mut [f64], b: &mut Buffers) {
        let mut userw = false;
        let mut k = 0;
        loop {
            self.onestp(y, userw, season, trend, b);
            k += 1;
            if k > self.no {
                break;
            }
            rwts(y, trend, season, &mut b.rw, &mut b.sorted);
            userw = true;
        }
    }

    fn onestp(
        &self,
        y: &[f64],
        userw: bool,
        season: &mut [f64],
        trend: &mut [f64],
        b: &mut Buffers,
    ) {
        let n = y.len();
        let np = self.np;
        let Buffers {
            work1,
            work2,
            work3,
            work4,
            rw,
            cycles,
            loess,
            ..
        } = b;
        let (work1, work2, work3) = (&mut work1[..], &mut work2[..], &mut work3[..]);
        for _ in 0..self.ni {
            for ((w, y), t) in work1.iter_mut().zip(y).zip(&*trend) {
                *w = y - t;
            }
            ss(
                &work1[..n],
                np,
                self.ns,
                self.isdeg,
                self.nsjump,
                userw,
                rw,
                self.unweighted,
                work2,
                cycles,
                loess,
            );
            fts(&work2[..n + 2 * np], np, work3, work1, work4);
            ess(
                &work3[..n],
                self.nl,
                self.ildeg,
                self.nljump,
                false,
                &[],
                Unweighted::Own,
                work1,
                loess,
            );
            for (((s, w1), w2), y) in season
                .iter_mut()
                .zip(&mut *work1)
                .zip(&work2[np..np + n])
                .zip(y)
            {
                *s = w2 - *w1;
                *w1 = y - *s;
            }
            ess(
                &work1[..n],
                self.nt,
                self.itdeg,
                self.ntjump,
                userw,
                rw,
                Unweighted::Own,
                trend,
                loess,
            );
        }
    }
}

/// Work arrays of one decomposition (netlib's `work(n + 2·np, 5)`, of which four are
/// needed here, and `rw`), plus the subseries and one loess scratch per worker (see
/// [`workers_for`]).
struct Buffers {
    work1: Vec<f64>,
    work2: Vec<f64>,
    work3: Vec<f64>,
    work4: Vec<f64>,
    rw: Vec<f64>,
    /// The absolute residuals as sortable keys (see [`rwts`]).
    sorted: Vec<u64>,
    cycles: Cycles,
    loess: Vec<Loess>,
}

impl Buffers {
    fn new(n: usize, max_period: usize, workers: usize) -> Self {
        let size = n + 2 * max_period;
        Buffers {
            work1: vec![0.0; size],
            work2: vec![0.0; size],
            work3: vec![0.0; size],
            work4: vec![0.0; size],
            rw: vec![0.0; n],
            sorted: vec![0; n],
            cycles: Cycles::default(),
            loess: (0..workers.max(1)).map(|_| Loess::default()).collect(),
        }
    }
}

/// One local fit: the fitted abscissa `xs` and the window `nleft..=nright` (1-based, as in
/// netlib).
#[derive(Debug, Clone, Copy)]
struct Fit {
    xs: usize,
    nleft: usize,
    nright: usize,
}

impl Fit {
    /// Fits of one shape share their tricube kernel.
    fn shape(&self) -> (isize, usize) {
        (
            self.xs as isize - self.nleft as isize,
            self.nright - self.nleft,
        )
    }
}

/// Scratch for the local fits, kept across passes.
#[derive(Default)]
struct Loess {
    fits: Vec<Fit>,
    /// The length, window and jump `fits` were chosen for (see [`choose_fits`]).
    fits_for: Option<(usize, usize, usize)>,
    kernel: Kernel,
    /// Robustness weights of 1, for the passes before there are any.
    ones: Vec<f64>,
    /// 0, 1, 2, ...: the points' places in a window.
    places: Vec<f64>,
}

/// What [`ess`] fits where a window's robustness weights are all 0.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unweighted {
    /// The point's own value, as netlib does.
    Own,
    /// The median of the window's values. The cycle-subseries smoother uses it: on a series
    /// of a few cycles, a spike can pull its phase-mates' first fit so far that robustness
    /// gives them weight 0 with the spike, and with their own values the seasonal curve took
    /// the spike in (15 of 40 spikes of 30 noise σ on 300-point series with a 75-point swing,
    /// `a_spike_on_a_few_cycles_stays_out_of_the_seasonal_curve`). The median of the phase
    /// keeps it out.
    Median,
}

/// netlib's `ess`: loess of `y` with window `len`, degree `ideg`, fitted every `njump` points
/// and interpolated linearly in between, into `ys[..n]`; where a window's robustness weights
/// are all 0, `unweighted` says what is fitted. The fits are split across the `scratch`es'
/// threads (one scratch per thread) when there are enough of them, see [`PARALLEL_WORK`].
#[allow(clippy::too_many_arguments)]
fn ess(
    y: &[f64],
    len: usize,
    ideg: i32,
    njump: usize,
    userw: bool,
    rw: &[f64],
    unweighted: Unweighted,
    ys: &mut [f64],
    scratch: &mut [Loess],
) {
    let n = y.len();
    if n < 2 {
        ys[0] = y[0];
        return;
    }
    let newnj = njump.min(n - 1);
    let mut fits = std::mem::take(&mut scratch[0].fits);
    // The fits depend on the length, window and jump only: the seasonal pass's subseries
    // (of one or two lengths) reuse them.
    let key = (n, len, newnj);
    if scratch[0].fits_for != Some(key) {
        choose_fits(n, len, newnj, &mut fits);
        scratch[0].fits_for = Some(key);
    }
    let workers = if fits.len() * len.min(n) >= PARALLEL_WORK {
        scratch.len()
    } else {
        1
    };
    let per = fits.len().div_ceil(workers);
    // Each worker writes its fits' values straight into its own stretch of `ys`: the fits
    // come in ascending order, so their stretches follow one another.
    let mut jobs = Vec::with_capacity(workers);
    let (mut rest, mut from) = (&mut ys[..n], 0);
    for (part, s) in fits.chunks(per).zip(&mut *scratch) {
        let to = part.last().map_or(from, |f| f.xs);
        let (mine, after) = std::mem::take(&mut rest).split_at_mut(to - from);
        jobs.push((part, s, mine, from));
        (rest, from) = (after, to);
    }
    on_workers(jobs, |(part, s, out, from)| {
        est(y, len, ideg, part, userw, rw, s, |f, fitted| {
            out[f.xs - 1 - from] = fitted.unwrap_or_else(|| match unweighted {
                Unweighted::Own => y[f.xs - 1],
                Unweighted::Median => {
                    stats::median(&y[f.nleft - 1..f.nright]).unwrap_or(y[f.xs - 1])
                }
            });
        });
    });
    scratch[0].fits = fits;
    if newnj != 1 {
        // The last fitted point the jumps reach (1-based).
        let last = ((n - 1) / newnj) * newnj + 1;
        // Between fitted points i and i + newnj (0-based here).
        let mut i = 0;
        while i + newnj < n {
            let (from, to) = (ys[i], ys[i + newnj]);
            let delta = (to - from) / newnj as f64;
            // An `i32` step count converts to a float a vector register at a time (`usize`
            // does not on x86-64); the jumps are far shorter than `i32::MAX`.
            for (v, steps) in ys[i + 1..i + newnj].iter_mut().zip(1_i32..) {
                *v = from + delta * f64::from(steps);
            }
            i += newnj;
        }
        if last != n && last != n - 1 {
            let delta = (ys[n - 1] - ys[last - 1]) / (n - last) as f64;
            for j in last + 1..=n - 1 {
                ys[j - 1] = ys[last - 1] + delta * (j - last) as f64;
            }
        }
    }
}

/// The fitted points of [`ess`] (`n` points, window `len`, a fit every `newnj` points) and
/// their windows, as netlib's three loops choose them, into `fits` (cleared first).
fn choose_fits(n: usize, len: usize, newnj: usize, fits: &mut Vec<Fit>) {
    fits.clear();
    let (mut nleft, mut nright) = (0, 0);
    if len >= n {
        nleft = 1;
        nright = n;
        fits.extend((1..=n).step_by(newnj).map(|xs| Fit { xs, nleft, nright }));
    } else if newnj == 1 {
        let nsh = len.div_ceil(2);
        nleft = 1;
        nright = len;
        for xs in 1..=n {
            if xs > nsh && nright != n {
                nleft += 1;
                nright += 1;
            }
            fits.push(Fit { xs, nleft, nright });
        }
    } else {
        let nsh = len.div_ceil(2);
        for xs in (1..=n).step_by(newnj) {
            if xs < nsh {
                nleft = 1;
                nright = len;
            } else if xs > n - nsh {
                nleft = n - len + 1;
                nright = n;
            } else {
                nleft = xs - nsh + 1;
                nright = len + xs - nsh;
            }
            fits.push(Fit { xs, nleft, nright });
        }
    }
    // The last point, when the jumps step over it, with the last window.
    let last = ((n - 1) / newnj) * newnj + 1;
    if newnj != 1 && last != n {
        fits.push(Fit {
            xs: n,
            nleft,
            nright,
        });
    }
}

/// netlib's `est` for each of `fits`, handing each fit and its value (`None` where the
/// weights sum to zero) to `sink`, compiled for the widest SIMD this CPU has.
#[allow(clippy::too_many_arguments)]
fn est(
    y: &[f64],
    len: usize,
    ideg: i32,
    fits: &[Fit],
    userw: bool,
    rw: &[f64],
    s: &mut Loess,
    sink: impl FnMut(&Fit, Option<f64>),
) {
    pulp::Arch::new().dispatch(Est {
        y,
        len,
        ideg,
        fits,
        rw: userw.then_some(rw),
        s,
        sink,
    });
}

/// The arguments of [`est`]; `rw` is `None` before there are robustness weights.
struct Est<'a, F> {
    y: &'a [f64],
    len: usize,
    ideg: i32,
    fits: &'a [Fit],
    rw: Option<&'a [f64]>,
    s: &'a mut Loess,
    sink: F,
}

impl<F: FnMut(&Fit, Option<f64>)> pulp::WithSimd for Est<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Est {
            y,
            len,
            ideg,
            fits,
            rw,
            s,
            mut sink,
        } = self;
        let Loess {
            kernel,
            ones,
            places,
            ..
        } = s;
        let n = y.len();
        let range = n as f64 - 1.0;
        for f in fits {
            let h = bandwidth(f, len, n);
            kernel.load(f, h);
            // Points of kernel weight 0 (the window's ends) add nothing: skip them.
            let (lo, hi) = kernel.nonzero;
            let m = hi - lo;
            if places.len() < m {
                ones.resize(m, 1.0);
                *places = (0..m).map(|t| t as f64).collect();
            }
            let start = f.nleft - 1 + lo;
            let k = &kernel.weights[lo..hi];
            let v = &y[start..start + m];
            let r = rw.map_or(&ones[..m], |rw| &rw[start..start + m]);
            let linear = h > 0.0 && ideg > 0;
            let fitted = if linear {
                let [a, t, tt, sy, ty] = window_sums::<S, true>(simd, k, r, v, places);
                // netlib's local line: the weights' centre of mass and spread, and the slope
                // where the points are spread out enough (else the weighted mean); `t` counts
                // from the window's first point.
                let centre = t / a;
                let c = (tt - t * centre) / a;
                let xs = f.xs as f64 - (start + 1) as f64;
                // netlib's test `sqrt(c) > 0.001 * range`, without the square root.
                let slope = if c > pow2(0.001 * range) {
                    (xs - centre) / c
                } else {
                    0.0
                };
                (a > 0.0).then(|| (sy + slope * (ty - centre * sy)) / a)
            } else {
                let [a, _, _, sy, _] = window_sums::<S, false>(simd, k, r, v, places);
                (a > 0.0).then(|| sy / a)
            };
            sink(f, fitted);
        }
    }
}

/// One window's sums of w, w·t, w·t², w·y and w·t·y (the middle three only if `LINEAR`), w
/// being `kernel` times `rw` and `t` the place in `places`, a vector register at a time.
#[inline(always)]
fn window_sums<S: pulp::Simd, const LINEAR: bool>(
    simd: S,
    kernel: &[f64],
    rw: &[f64],
    y: &[f64],
    places: &[f64],
) -> [f64; 5] {
    let m = kernel.len();
    let (k, k_tail) = S::as_simd_f64s(kernel);
    let (r, r_tail) = S::as_simd_f64s(&rw[..m]);
    let (v, v_tail) = S::as_simd_f64s(&y[..m]);
    let (t, t_tail) = S::as_simd_f64s(&places[..m]);
    let zero = simd.splat_f64s(0.0);
    let mut acc = [zero; 5];
    for (((k, r), v), t) in k.iter().zip(r).zip(v).zip(t) {
        let w = simd.mul_f64s(*k, *r);
        let wy = simd.mul_f64s(w, *v);
        acc[0] = simd.add_f64s(acc[0], w);
        acc[3] = simd.add_f64s(acc[3], wy);
        if LINEAR {
            let wt = simd.mul_f64s(w, *t);
            acc[1] = simd.add_f64s(acc[1], wt);
            acc[2] = simd.add_f64s(acc[2], simd.mul_f64s(wt, *t));
            acc[4] = simd.add_f64s(acc[4], simd.mul_f64s(wy, *t));
        }
    }
    // Written out, not mapped: a closure would not be compiled with the SIMD features.
    let mut out = [
        simd.reduce_sum_f64s(acc[0]),
        simd.reduce_sum_f64s(acc[1]),
        simd.reduce_sum_f64s(acc[2]),
        simd.reduce_sum_f64s(acc[3]),
        simd.reduce_sum_f64s(acc[4]),
    ];
    for (((k, r), v), t) in k_tail.iter().zip(r_tail).zip(v_tail).zip(t_tail) {
        let w = k * r;
        out[0] += w;
        out[3] += w * v;
        if LINEAR {
            out[1] += w * t;
            out[2] += w * t * t;
            out[4] += w * v * t;
        }
    }
    out
}

/// netlib's bandwidth of a fit.
fn bandwidth(f: &Fit, len: usize, n: usize) -> f64 {
    let xs = f.xs as f64;
    let mut h = (xs - f.nleft as f64).max(f.nright as f64 - xs);
    if len > n {
        h += ((len - n) / 2) as f64;
    }
    h
}

/// The tricube kernel of the last fit: `weights` for a fit whose abscissa is `offset` points
/// into its window of `width + 1` points, with bandwidth `h` (all a fit's kernel depends on),
/// and `nonzero` the range where they are not 0. Interior fits all share one kernel, so it is
/// rarely recomputed.
#[derive(Default)]
struct Kernel {
    weights: Vec<f64>,
    key: Option<(isize, usize, u64)>,
    nonzero: (usize, usize),
}

impl Kernel {
    #[inline(always)]
    fn load(&mut self, f: &Fit, h: f64) {
        let (offset, width) = f.shape();
        let key = Some((offset, width, h.to_bits()));
        if self.key == key {
            return;
        }
        self.weights.resize(width + 1, 0.0);
        let xs = f.xs as f64;
        let h9 = 0.999 * h;
        let h1 = 0.001 * h;
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (t, (weight, j)) in self.weights.iter_mut().zip(f.nleft..=f.nright).enumerate() {
            let r = (j as f64 - xs).abs();
            *weight = if r <= h9 {
                if r <= h1 {
                    1.0
                } else {
                    pow3(1.0 - pow3(r / h))
                }
            } else {
                0.0
            };
            if *weight != 0.0 {
                lo = lo.min(t);
                hi = t + 1;
            }
        }
        self.key = key;
        self.nonzero = if lo < hi { (lo, hi) } else { (0, 0) };
    }
}

/// netlib's `fts`: moving averages of `np`, `np` and 3 points of `x` (`n + 2·np` points) into
/// `trend` (`n` points), through `first` and `second`. The three averages run in one loop, so
/// their running sums (each a chain of dependent additions) overlap instead of following one
/// another; each keeps netlib's `ma` arithmetic.
fn fts(x: &[f64], np: usize, trend: &mut [f64], first: &mut [f64], second: &mut [f64]) {
    let (mut ma1, mut ma2, mut ma3) = (Ma::new(np), Ma::new(np), Ma::new(3));
    let (mut i1, mut i2, mut i3) = (0, 0, 0);
    // From `steady` on, each average has a whole window behind it and slides by one at every
    // point: that part runs in the loop below, without the warm-up's tests.
    let steady = (2 * np + 1).min(x.len());
    for t in 0..steady {
        let Some(v) = ma1.feed(x, t) else { continue };
        first[i1] = v;
        let Some(v) = ma2.feed(first, i1) else {
            i1 += 1;
            continue;
        };
        i1 += 1;
        second[i2] = v;
        let Some(v) = ma3.feed(second, i2) else {
            i2 += 1;
            continue;
        };
        i2 += 1;
        trend[i3] = v;
        i3 += 1;
    }
    let (mut v1, mut v2, mut v3) = (ma1.v, ma2.v, ma3.v);
    for t in steady..x.len() {
        // `Ma::feed`'s sliding step for each average, in the same order of operations.
        v1 = v1 - x[t - np] + x[t];
        let a = v1 * ma1.scale;
        first[i1] = a;
        v2 = v2 - first[i1 - np] + a;
        let b = v2 * ma2.scale;
        second[i2] = b;
        v3 = v3 - second[i2 - 3] + b;
        trend[i3] = v3 * ma3.scale;
        (i1, i2, i3) = (i1 + 1, i2 + 1, i3 + 1);
    }
}

/// netlib's `ma` (moving average of `len` points) fed one point at a time.
struct Ma {
    len: usize,
    /// `1 / len`.
    scale: f64,
    v: f64,
}

impl Ma {
    fn new(len: usize) -> Self {
        Ma {
            len,
            scale: 1.0 / len as f64,
            v: 0.0,
        }
    }

    /// Takes in `x[t]` (`x[..t]` were fed before) and gives the average of the window that
    /// ends there, once there is a whole window.
    #[inline]
    fn feed(&mut self, x: &[f64], t: usize) -> Option<f64> {
        if t + 1 < self.len {
            return None;
        }
        if t + 1 == self.len {
            self.v = x[..self.len].iter().copied().sum();
        } else {
            self.v = self.v - x[t - self.len] + x[t];
        }
        Some(self.v * self.scale)
    }
}

/// netlib's `rwts`: bisquare robustness weights from the residuals `y - (trend + season)`,
/// scaled by six times their median absolute value.
///
/// The absolute residuals are selected as integers: a float without its sign bit orders as its
/// bits do (as [`f64::total_cmp`] orders it), and integer comparisons are cheaper. The weights
/// are computed for every point and then chosen between 1, the bisquare and 0 without a branch,
/// so the pass runs a vector register at a time; the same values as netlib's branches.
fn rwts(y: &[f64], trend: &[f64], season: &[f64], rw: &mut [f64], sorted: &mut [u64]) {
    let n = y.len();
    // The absolute residuals, kept in `rw` (turned into weights in place below) and as keys
    // for the selection, which reorders them.
    for ((((r, key), y), t), s) in rw
        .iter_mut()
        .zip(&mut *sorted)
        .zip(y)
        .zip(trend)
        .zip(season)
    {
        *r = (y - (t + s)).abs();
        *key = r.to_bits();
    }
    let mid1 = (n - 1) / 2;
    let mid2 = n / 2;
    let (below, &mut at_mid2, _) = sorted[..n].select_nth_unstable(mid2);
    let at_mid1 = if mid1 == mid2 {
        at_mid2
    } else {
        below.iter().copied().max().unwrap_or(at_mid2)
    };
    let cmad = 3.0 * (f64::from_bits(at_mid1) + f64::from_bits(at_mid2));
    let c9 = 0.999 * cmad;
    let c1 = 0.001 * cmad;
    for w in &mut rw[..n] {
        let r = *w;
        let bisquare = pow2(1.0 - pow2(r / cmad));
        let inside = if r <= c9 { bisquare } else { 0.0 };
        *w = if r <= c1 { 1.0 } else { inside };
    }
}

/// netlib's `ss`: loess of each cycle-subseries of `y`, extended by one point at each end,
/// into `season` (`n + 2·np` points). The subseries are first copied out side by side (one
/// pass over `y` in order) so that each loess reads contiguous memory, not one point a cycle.
/// They are split across the `scratch`es' threads (one scratch per thread), each taking a
/// run of phases.
#[allow(clippy::too_many_arguments)]
fn ss(
    y: &[f64],
    np: usize,
    ns: usize,
    isdeg: i32,
    nsjump: usize,
    userw: bool,
    rw: &[f64],
    unweighted: Unweighted,
    season: &mut [f64],
    c: &mut Cycles,
    scratch: &mut [Loess],
) {
    let n = y.len();
    // Subseries j (0-based) holds y[j], y[j + np], ... at j·stride, with room for its two
    // extra points in `c.out`.
    let stride = n.div_ceil(np) + 2;
    c.y.resize(np * stride, 0.0);
    c.rw.resize(np * stride, 0.0);
    c.out.resize(np * stride, 0.0);
    let per = np.div_ceil(scratch.len());
    let parts: Vec<_> =
        c.y.chunks_mut(per * stride)
            .zip(c.rw.chunks_mut(per * stride))
            .zip(c.out.chunks_mut(per * stride))
            .zip(&mut *scratch)
            .enumerate()
            .collect();
    on_workers(parts, |(k, (((cy, crw), out), s))| {
        let phases = k * per..((k + 1) * per).min(np);
        gather_cycles(y, np, stride, phases.clone(), cy);
        if userw {
            gather_cycles(&rw[..n], np, stride, phases.clone(), crw);
        }
        for (local, j) in phases.enumerate() {
            let at = local * stride;
            smooth_cycle(
                &cy[at..at + stride],
                userw.then(|| &crw[at..at + stride]),
                (n - 1 - j) / np + 1,
                ns,
                isdeg,
                nsjump,
                unweighted,
                &mut out[at..at + stride],
                s,
            );
        }
    });
    // Back in time order: point m of subseries j is season[m·np + j], and these fill
    // season[..n + 2·np] exactly.
    by_cycles(n + 2 * np, np, stride, 0..np, |t, at| season[t] = c.out[at]);
}

/// One cycle-subseries' loess of [`ss`]: its `k` points at the start of `sub` (their
/// robustness weights in `rw`, when there are any) into `out[1..=k]`, and one point beyond each
/// end into `out[0]` and `out[k + 1]`.
#[allow(clippy::too_many_arguments)]
fn smooth_cycle(
    sub: &[f64],
    rw: Option<&[f64]>,
    k: usize,
    ns: usize,
    isdeg: i32,
    nsjump: usize,
    unweighted: Unweighted,
    out: &mut [f64],
    s: &mut Loess,
) {
    let sub = &sub[..k];
    let sub_rw = rw.map_or(&[][..], |rw| &rw[..k]);
    let userw = rw.is_some();
    ess(
        sub,
        ns,
        isdeg,
        nsjump,
        userw,
        sub_rw,
        unweighted,
        &mut out[1..],
        std::slice::from_mut(s),
    );
    // One point beyond each end.
    let ends = [
        Fit {
            xs: 0,
            nleft: 1,
            nright: ns.min(k),
        },
        Fit {
            xs: k + 1,
            nleft: (k as isize - ns as isize + 1).max(1) as usize,
            nright: k,
        },
    ];
    let mut fitted = [None; 2];
    est(sub, ns, isdeg, &ends, userw, sub_rw, s, |f, v| {
        fitted[usize::from(f.xs > 0)] = v;
    });
    out[0] = fitted[0].unwrap_or(out[1]);
    out[k + 1] = fitted[1].unwrap_or(out[k]);
}

/// Cycles of [`gather_cycles`]' tiles: 64 cycles of the longest period here (168) are 86 kB of
/// the series, which stay in cache while their phases are read out four at a time.
const GATHER_TILE: usize = 64;

/// The cycle-subseries of `src` for the phases in `phases`, side by side: `dst[(j -
/// phases.start)·stride + c] = src[c·np + j]` for every point `c·np + j` of `src` (as
/// [`by_cycles`] walks them). Whole cycles go in blocks of four cycles by four phases: four
/// short rows read and written back as four short columns, a transpose the compiler keeps in
/// registers: 1.5 times as fast as one point at a time on its own (a microbenchmark, 1M
/// points); inside a decomposition the gathers mostly wait on memory.
fn gather_cycles(
    src: &[f64],
    np: usize,
    stride: usize,
    phases: std::ops::Range<usize>,
    dst: &mut [f64],
) {
    let whole = src.len() / np;
    let blocked = whole - whole % 4;
    let width = phases.len();
    let quads = width - width % 4;
    for c0 in (0..blocked).step_by(GATHER_TILE) {
        let c1 = (c0 + GATHER_TILE).min(blocked);
        for q in (0..quads).step_by(4) {
            let j = phases.start + q;
            let (o0, rest) = dst[q * stride..].split_at_mut(stride);
            let (o1, rest) = rest.split_at_mut(stride);
            let (o2, o3) = rest.split_at_mut(stride);
            for c in (c0..c1).step_by(4) {
                let at = c * np + j;
                let r0 = &src[at..at + 4];
                let r1 = &src[at + np..at + np + 4];
                let r2 = &src[at + 2 * np..at + 2 * np + 4];
                let r3 = &src[at + 3 * np..at + 3 * np + 4];
                o0[c..c + 4].copy_from_slice(&[r0[0], r1[0], r2[0], r3[0]]);
                o1[c..c + 4].copy_from_slice(&[r0[1], r1[1], r2[1], r3[1]]);
                o2[c..c + 4].copy_from_slice(&[r0[2], r1[2], r2[2], r3[2]]);
                o3[c..c + 4].copy_from_slice(&[r0[3], r1[3], r2[3], r3[3]]);
            }
        }
        for q in quads..width {
            let j = phases.start + q;
            for c in c0..c1 {
                dst[q * stride + c] = src[c * np + j];
            }
        }
    }
    // The cycles left over: fewer than four whole ones and the last, partial one.
    for c in blocked..src.len().div_ceil(np) {
        for (q, j) in phases.clone().enumerate() {
            if let Some(&v) = src.get(c * np + j) {
                dst[q * stride + c] = v;
            }
        }
    }
}

/// Calls `f(t, (j - phases.start)·stride + c)` for every time index `t = c·np + j < len` of a
/// phase `j` in `phases` (cycle `c`), in tiles of a few cycles so that both the time order
/// and the subseries order stay in cache.
#[inline]
fn by_cycles(
    len: usize,
    np: usize,
    stride: usize,
    phases: std::ops::Range<usize>,
    mut f: impl FnMut(usize, usize),
) {
    const TILE: usize = 32;
    let cycles = len.div_ceil(np);
    for c0 in (0..cycles).step_by(TILE) {
        let c1 = (c0 + TILE).min(cycles);
        for j in phases.clone() {
            for c in c0..c1 {
                let t = c * np + j;
                if t < len {
                    f(t, (j - phases.start) * stride + c);
                }
            }
        }
    }
}

/// The cycle-subseries of one [`ss`], side by side.
#[derive(Default)]
struct Cycles {
    y: Vec<f64>,
    rw: Vec<f64>,
    out: Vec<f64>,
}

fn pow2(x: f64) -> f64 {
    x * x
}

fn pow3(x: f64) -> f64 {
    x * x * x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tsad_testing::{Rng, seasonal_with_anomalies};

    proptest! {
        /// The blocked gather puts every point where the one-at-a-time walk does, for any
        /// length (whole cycles or not, fewer than four), period and run of phases.
        #[test]
        fn gather_cycles_is_the_plain_walk(
            len in 1_usize..400,
            np in 1_usize..30,
            first in 0_usize..30,
            width in 1_usize..30,
        ) {
            let first = first % np;
            let phases = first..(first + width).min(np);
            let src: Vec<f64> = (0..len).map(|t| t as f64).collect();
            let stride = len.div_ceil(np) + 2;
            let mut want = vec![-1.0; phases.len() * stride];
            by_cycles(len, np, stride, phases.clone(), |t, at| want[at] = src[t]);
            let mut got = vec![-1.0; phases.len() * stride];
            gather_cycles(&src, np, stride, phases, &mut got);
            prop_assert_eq!(got, want);
        }
    }

    fn stlrs_stl(x: &[f64], period: usize, robust: bool) -> Vec<f64> {
        let (s, t, _, _) = stlrs::params()
            .seasonal_length(seasonal_window(period, x.len()))
            .seasonal_degree(seasonal_degree(period, x.len()))
            .robust(robust)
            .fit(x, period)
            .unwrap()
            .into_parts();
        s.iter().zip(&t).map(|(s, t)| s + t).collect()
    }

    fn stlrs_mstl(x: &[f64], periods: &[usize], robust: bool) -> Vec<f64> {
        let mut stl = stlrs::params();
        stl.robust(robust);
        let (seasons, trend, _) = stlrs::MstlParams::new()
            .stl_params(stl)
            .fit(x, periods)
            .unwrap()
            .into_parts();
        let mut fit = trend;
        for s in &seasons {
            for (f, v) in fit.iter_mut().zip(s) {
                *f += v;
            }
        }
        fit
    }

    /// `got` is `want` up to rounding: within 1e-7 of the series' largest magnitude. The sums
    /// are added in another order than netlib's (differences near 1e-15), and netlib's
    /// robustness weight jumps from 1 to 1 - 2e-6 at a thousandth of the residuals' scale, so
    /// a residual that rounding moves across that line moves the fit by up to about 1e-8 of
    /// the series' scale.
    fn close(name: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = want.iter().fold(1.0_f64, |m, w| m.max(w.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-7 * scale,
                "{name}: point {i}: {g} vs {w}"
            );
        }
    }

    /// The own weight is what a unit more at a point adds to its fit, on any data (the
    /// decomposition without robustness weights is linear), read far from the ends: the
    /// shortened series the impulse sits in gives what the whole series gives, within the
    /// own weight's variation from place to place.
    #[test]
    fn self_weight_is_what_a_point_adds_to_its_own_fit() {
        for periods in [vec![24], vec![24, 168], vec![7]] {
            let n = 12_000;
            let mut rng = Rng::new(5);
            let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            let fitted = |x: &[f64]| fit(x, &periods, false).unwrap();
            let base = fitted(&x);
            // The average over a cycle of the longest period, in the middle.
            let longest = *periods.iter().max().unwrap();
            let added: f64 = (0..longest)
                .map(|k| {
                    let at = n / 2 + k;
                    let mut bumped = x.clone();
                    bumped[at] += 1.0;
                    fitted(&bumped)[at] - base[at]
                })
                .sum::<f64>()
                / longest as f64;
            let h = self_weight(&periods, n).unwrap();
            assert!(h > 0.0 && h < 1.0, "{periods:?}: {h}");
            assert!((h - added).abs() < 0.005, "{periods:?}: {h} vs {added}");
        }
    }

    /// Series that exercise every path of the loess: short ones (windows longer than the
    /// subseries), jumps of one, outliers whose robustness weight is 0, and a noiseless
    /// pattern whose weights sum to 0 in some windows.
    fn cases() -> Vec<(String, Vec<f64>)> {
        let mut rng = Rng::new(3);
        let mut out: Vec<(String, Vec<f64>)> = Vec::new();
        for (n, p) in [(4000, 96), (3000, 288), (700, 7), (50, 24), (9, 4)] {
            out.push((
                format!("spikes n={n} p={p}"),
                seasonal_with_anomalies(n, p, n / 100 + 1, n as u64)
                    .0
                    .values()
                    .to_vec(),
            ));
        }
        let walk: Vec<f64> = (0..2500)
            .scan(0.0, |v, _| {
                *v += rng.normal();
                Some(*v)
            })
            .collect();
        out.push(("random walk".into(), walk));
        let pattern = [1.0, 3.0, 2.0, 5.0, 4.0, 0.0];
        let mut exact: Vec<f64> = (0..120).map(|i| pattern[i % 6]).collect();
        exact[60] += 10.0;
        out.push(("noiseless pattern".into(), exact));
        out
    }

    /// With netlib's fallback for windows without weight (see the module docs).
    #[test]
    fn matches_stlrs() {
        for (name, x) in cases() {
            for robust in [true, false] {
                for period in [2, 3, 4, 6, 7, 12, 24, 48, 96, 288] {
                    // A noiseless pattern at its own period leaves residuals of rounding
                    // noise alone, and the robustness weights they give are as arbitrary:
                    // both fits then differ from the pattern, each its own way.
                    if x.len() / 2 < period
                        || (robust && name.starts_with("noiseless") && period == 6)
                    {
                        continue;
                    }
                    close(
                        &format!("{name} stl {period} robust={robust}"),
                        &stl_on(
                            &x,
                            period,
                            seasonal_window(period, x.len()),
                            seasonal_degree(period, x.len()),
                            robust,
                            Unweighted::Own,
                            workers_for(x.len()),
                        )
                        .unwrap(),
                        &stlrs_stl(&x, period, robust),
                    );
                }
                for periods in [&[24, 168][..], &[7, 3], &[6, 4, 12], &[96, 288]] {
                    if periods.iter().any(|&p| x.len() / 2 < p) {
                        continue;
                    }
                    close(
                        &format!("{name} mstl {periods:?} robust={robust}"),
                        &mstl_on(&x, periods, robust, Unweighted::Own, workers_for(x.len()))
                            .unwrap(),
                        &stlrs_mstl(&x, periods, robust),
                    );
                }
            }
        }
    }

    /// A line per phase where the window spans every one of enough cycles, a constant
    /// elsewhere: on few cycles (a spike would tilt a line) and where the window is narrower
    /// than the series (it follows a slow change already).
    #[test]
    fn seasonal_degree_table() {
        for (period, n, degree) in [
            (75, 1000, 1),
            (75, 300, 0),
            (75, 75 * LINE_CYCLES, 1),
            (75, 75 * LINE_CYCLES - 1, 0),
            (75, 100_000, 0),
            (24, 24 * 17, 0),
            (24, 24 * 16, 1),
            (288, 10_000, 1),
        ] {
            assert_eq!(
                seasonal_degree(period, n),
                degree,
                "period {period}, {n} points"
            );
        }
    }

    /// A swing of 75.4 points read as 75 over 1,000 points (13 cycles, a window spanning them
    /// all): a constant per phase leaves the slip in the residuals, largest at both ends; a
    /// line per phase follows it.
    #[test]
    fn a_line_per_phase_follows_a_cycle_that_slips() {
        let (n, period) = (1000, 75);
        let x: Vec<f64> = (0..n)
            .map(|i| 10.0 * (std::f64::consts::TAU * i as f64 / 75.4).sin())
            .collect();
        let worst = |isdeg: i32| {
            let fit = stl_on(
                &x,
                period,
                seasonal_window(period, n),
                isdeg,
                true,
                Unweighted::Median,
                1,
            )
            .unwrap();
            x.iter()
                .zip(&fit)
                .map(|(v, f)| (v - f).abs())
                .fold(0.0, f64::max)
        };
        // Measured: 2.23 with a constant (the slip's 2.6 points on a swing of 10), 0.23 with a
        // line.
        let (constant, line) = (worst(0), worst(seasonal_degree(period, n)));
        assert!(
            line < 0.5 && constant > 2.0,
            "largest residual: constant {constant}, line {line}"
        );
    }

    /// On 4 cycles, a spike can pull its phase-mates' first fit so far that robustness gives
    /// all of them weight 0: fitted as their median, the seasonal curve leaves the spike out;
    /// fitted as their own values (netlib), it took the spike in. 40 series of the Python
    /// Spark test's shape (a swing of 75.4 points read as 75, noise 1, a spike of 30): netlib's
    /// way took 15 of the 40 spikes in, the median none.
    #[test]
    fn a_spike_on_a_few_cycles_stays_out_of_the_seasonal_curve() {
        let (n, period) = (300, 75);
        let ns = seasonal_window(period, n);
        let mut absorbed = [0, 0];
        for seed in 0..40 {
            let mut rng = Rng::new(seed);
            let mut x: Vec<f64> = (0..n)
                .map(|t| 5.0 * (t as f64 / 12.0).sin() + rng.normal())
                .collect();
            let at = 100 + (seed as usize * 37) % 200;
            x[at] += 30.0;
            for (k, unweighted) in [Unweighted::Median, Unweighted::Own]
                .into_iter()
                .enumerate()
            {
                let fit = stl_on(&x, period, ns, 0, true, unweighted, 1).unwrap();
                absorbed[k] += usize::from(x[at] - fit[at] < 20.0);
            }
        }
        assert_eq!(absorbed[0], 0, "{absorbed:?}");
        assert!(absorbed[1] > 0, "netlib's fallback: {absorbed:?}");
    }

    /// Split across threads, every local fit is computed as on one thread: the result is the
    /// same to the bit, whatever the number of threads (3 splits 24 and 168 phases unevenly).
    #[test]
    fn threads_change_nothing() {
        let x = seasonal_with_anomalies(40_000, 24, 40, 9)
            .0
            .values()
            .to_vec();
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        for robust in [true, false] {
            for (workers, isdeg) in [(2, 0), (3, 0), (2, 1)] {
                let fit = |workers| stl_on(&x, 24, 11, isdeg, robust, Unweighted::Median, workers);
                assert_eq!(
                    bits(fit(workers).unwrap()),
                    bits(fit(1).unwrap()),
                    "stl robust={robust} workers={workers} isdeg={isdeg}"
                );
            }
            assert_eq!(
                bits(mstl_on(&x, &[24, 168], robust, Unweighted::Median, 3).unwrap()),
                bits(mstl_on(&x, &[24, 168], robust, Unweighted::Median, 1).unwrap()),
                "mstl robust={robust}"
            );
        }
        // The series is long enough for the trend passes (a fit every 5 points, windows of
        // 43) to be split at all.
        const { assert!(40_000 / 5 * 43 >= PARALLEL_WORK) };
    }

    #[test]
    fn refuses_what_stlrs_refuses() {
        let x = vec![1.0; 10];
        assert!(stl_fit(&x, 1, true).is_none());
        assert!(stl_fit(&x, 6, true).is_none());
        assert!(mstl_fit(&x, &[], true).is_none());
        assert!(mstl_fit(&x, &[2, 6], true).is_none());
    }
}
