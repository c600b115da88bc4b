//! STL and MSTL, bit for bit the arithmetic of `stlrs` 0.4 (Unlicense OR MIT; itself a port of
//! netlib's `stl`, Cleveland et al. 1990; MSTL after Bandara, Hyndman & Bergmeir 2021), made
//! faster without changing one result bit:
//!
//! - **Loess fits in lockstep.** Almost every local fit of a smoothing pass has the same window
//!   shape (the interior ones), so its tricube kernel is computed once per pass, not once per
//!   fit, and four fits run side by side: each fit's sums are still added in netlib's order, but
//!   four independent sums keep the floating-point adder busy where one sum waits on itself.
//! - **Robustness weights by selection.** The median absolute residual is taken with
//!   `select_nth_unstable` (O(n)) instead of sorting the residuals (O(n log n)) on every one
//!   of the 15 robustness passes; the selected values are the same.
//!
//! The test `matches_stlrs_bit_for_bit` checks the equality against `stlrs` itself.

/// Fits that run side by side.
const LANES: usize = 4;

/// Trend + season of `x` by STL with `period` (at least 2; `x` holds at least two cycles), as
/// `stlrs::params().robust(robust).fit(x, period)` computes them: `seasonal + trend`.
pub(crate) fn stl_fit(x: &[f64], period: usize, robust: bool) -> Option<Vec<f64>> {
    let n = x.len();
    if period < 2 || n / 2 < period {
        return None;
    }
    let mut season = vec![0.0; n];
    let mut trend = vec![0.0; n];
    let mut buffers = Buffers::new(n, period);
    Params::new(period, None, robust).run(x, &mut season, &mut trend, &mut buffers);
    Some(season.iter().zip(&trend).map(|(s, t)| s + t).collect())
}

/// Trend + seasons of `x` by MSTL with `periods` (each at least 2 and at most half of `x`), as
/// `stlrs::MstlParams::new()` with those STL parameters computes them (two iterations, no
/// Box-Cox, seasonal windows 11, 15, ... from the shortest period): the trend plus each
/// season in the order of `periods`.
pub(crate) fn mstl_fit(x: &[f64], periods: &[usize], robust: bool) -> Option<Vec<f64>> {
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
    let mut buffers = Buffers::new(n, *periods.iter().max()?);
    for iteration in 0..iterations {
        for (rank, &i) in order.iter().enumerate() {
            if iteration > 0 {
                for (d, s) in deseasoned.iter_mut().zip(&seasons[i]) {
                    *d += *s;
                }
            }
            let params = Params::new(periods[i], Some(7 + 4 * (rank + 1)), robust);
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
        }
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
                trend,
                loess,
            );
        }
    }
}

/// Work arrays of one decomposition (netlib's `work(n + 2·np, 5)`, of which four are
/// needed here, and `rw`), plus the subseries and loess scratch.
struct Buffers {
    work1: Vec<f64>,
    work2: Vec<f64>,
    work3: Vec<f64>,
    work4: Vec<f64>,
    rw: Vec<f64>,
    sorted: Vec<f64>,
    cycles: Cycles,
    loess: Loess,
}

impl Buffers {
    fn new(n: usize, max_period: usize) -> Self {
        let size = n + 2 * max_period;
        Buffers {
            work1: vec![0.0; size],
            work2: vec![0.0; size],
            work3: vec![0.0; size],
            work4: vec![0.0; size],
            rw: vec![0.0; n],
            sorted: vec![0.0; n],
            cycles: Cycles::default(),
            loess: Loess::default(),
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
    results: Vec<Option<f64>>,
    kernels: Kernels,
    weights: Vec<[f64; LANES]>,
}

/// netlib's `ess`: loess of `y` with window `len`, degree `ideg`, fitted every `njump` points
/// and interpolated linearly in between, into `ys[..n]`.
#[allow(clippy::too_many_arguments)]
fn ess(
    y: &[f64],
    len: usize,
    ideg: i32,
    njump: usize,
    userw: bool,
    rw: &[f64],
    ys: &mut [f64],
    s: &mut Loess,
) {
    let n = y.len();
    if n < 2 {
        ys[0] = y[0];
        return;
    }
    let newnj = njump.min(n - 1);
    let mut fits = std::mem::take(&mut s.fits);
    fits.clear();
    // The fitted points and their windows, as netlib's three loops choose them.
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
    est(y, len, ideg, &fits, userw, rw, s);
    for (f, r) in fits.iter().zip(&s.results) {
        ys[f.xs - 1] = r.unwrap_or(y[f.xs - 1]);
    }
    s.fits = fits;
    if newnj != 1 {
        // Between fitted points i and i + newnj (0-based here).
        let mut i = 0;
        while i + newnj < n {
            let (from, to) = (ys[i], ys[i + newnj]);
            let delta = (to - from) / newnj as f64;
            for (d, v) in ys[i + 1..i + newnj].iter_mut().enumerate() {
                *v = from + delta * (d + 1) as f64;
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

/// netlib's `est` for each of `fits`, into `s.results` (`None` where the weights sum to zero).
/// Consecutive fits of one window width run [`LANES`] at a time.
fn est(y: &[f64], len: usize, ideg: i32, fits: &[Fit], userw: bool, rw: &[f64], s: &mut Loess) {
    s.results.clear();
    let mut start = 0;
    while start < fits.len() {
        let width = fits[start].nright - fits[start].nleft;
        let end = start
            + fits[start..]
                .iter()
                .take_while(|f| f.nright - f.nleft == width)
                .count();
        for group in fits[start..end].chunks(LANES) {
            lanes(y, len, ideg, group, userw, rw, s);
        }
        start = end;
    }
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

/// The kernels of the fits in the lanes: column `l` of `weights` holds the tricube weights of
/// a fit whose abscissa is `offset` points into its window of `width + 1` points, with
/// bandwidth `h` (all a fit's kernel depends on), and `nonzero` the range where they are not 0.
/// Interior fits all share one kernel, so a column is rarely recomputed.
#[derive(Default)]
struct Kernels {
    weights: Vec<[f64; LANES]>,
    key: [Option<(isize, usize, u64)>; LANES],
    nonzero: [(usize, usize); LANES],
}

impl Kernels {
    fn load(&mut self, l: usize, f: &Fit, h: f64) {
        let (offset, width) = f.shape();
        let key = Some((offset, width, h.to_bits()));
        if self.weights.len() != width + 1 {
            self.weights.resize(width + 1, [0.0; LANES]);
            self.key = [None; LANES];
        }
        if self.key[l] == key {
            return;
        }
        let xs = f.xs as f64;
        let h9 = 0.999 * h;
        let h1 = 0.001 * h;
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (t, (row, j)) in self.weights.iter_mut().zip(f.nleft..=f.nright).enumerate() {
            let r = (j as f64 - xs).abs();
            row[l] = if r <= h9 {
                if r <= h1 {
                    1.0
                } else {
                    pow3(1.0 - pow3(r / h))
                }
            } else {
                0.0
            };
            if row[l] != 0.0 {
                lo = lo.min(t);
                hi = t + 1;
            }
        }
        self.key[l] = key;
        self.nonzero[l] = if lo < hi { (lo, hi) } else { (0, 0) };
    }
}

/// Up to [`LANES`] fits of one window width side by side; each lane does netlib's `est`
/// arithmetic in netlib's order. Missing lanes repeat the first fit.
fn lanes(y: &[f64], len: usize, ideg: i32, group: &[Fit], userw: bool, rw: &[f64], s: &mut Loess) {
    let n = y.len();
    let fit = |l: usize| group.get(l).unwrap_or(&group[0]);
    let h: [f64; LANES] = std::array::from_fn(|l| bandwidth(fit(l), len, n));
    let linear = h[0] > 0.0 && ideg > 0;
    if group.len() > 1 && h.iter().any(|&h| (h > 0.0 && ideg > 0) != linear) {
        for f in group {
            lanes(y, len, ideg, std::slice::from_ref(f), userw, rw, s);
        }
        return;
    }
    for (l, &h) in h.iter().enumerate() {
        s.kernels.load(l, fit(l), h);
    }
    // Points of kernel weight 0 in every lane (the window's ends) add exactly nothing to
    // netlib's sums (every sum starts at +0.0, so it never holds -0.0 for a ±0 term to
    // change): skip them.
    let lo = s.kernels.nonzero.iter().map(|r| r.0).min().unwrap_or(0);
    let hi = s
        .kernels
        .nonzero
        .iter()
        .map(|r| r.1)
        .max()
        .unwrap_or(0)
        .max(lo);
    let m = hi - lo;
    let kernel = &s.kernels.weights[lo..hi];
    let xs: [f64; LANES] = std::array::from_fn(|l| fit(l).xs as f64);
    // 0-based index of each lane's first point, and its abscissa (1-based, as netlib's).
    let start: [usize; LANES] = std::array::from_fn(|l| fit(l).nleft - 1 + lo);
    let first: [f64; LANES] = std::array::from_fn(|l| (start[l] + 1) as f64);
    let ywin: [&[f64]; LANES] = std::array::from_fn(|l| &y[start[l]..start[l] + m]);
    s.weights.resize(m, [0.0; LANES]);
    let w = &mut s.weights[..m];

    // Tricube (times robustness) weights and their sum.
    let mut a = [0.0; LANES];
    if userw {
        let rwin: [&[f64]; LANES] = std::array::from_fn(|l| &rw[start[l]..start[l] + m]);
        for (t, (wt, k)) in w.iter_mut().zip(kernel).enumerate() {
            for l in 0..LANES {
                wt[l] = k[l] * rwin[l][t];
                a[l] += wt[l];
            }
        }
    } else {
        for (wt, k) in w.iter_mut().zip(kernel) {
            *wt = *k;
            for l in 0..LANES {
                a[l] += k[l];
            }
        }
    }

    let mut ys = [0.0; LANES];
    if linear {
        // Normalised weights and their centre of mass.
        let mut centre = [0.0; LANES];
        let mut j = first;
        for wt in w.iter_mut() {
            for l in 0..LANES {
                wt[l] /= a[l];
                centre[l] += wt[l] * j[l];
                j[l] += 1.0;
            }
        }
        let mut c = [0.0; LANES];
        let mut j = first;
        for wt in w.iter() {
            for l in 0..LANES {
                c[l] += wt[l] * pow2(j[l] - centre[l]);
                j[l] += 1.0;
            }
        }
        // The slope, where the points are spread out enough; 0 leaves the weights as they
        // are (w · (0·d + 1) = w exactly).
        let range = n as f64 - 1.0;
        let slope: [f64; LANES] = std::array::from_fn(|l| {
            if c[l].sqrt() > 0.001 * range {
                (xs[l] - centre[l]) / c[l]
            } else {
                0.0
            }
        });
        let mut j = first;
        for (t, wt) in w.iter().enumerate() {
            for l in 0..LANES {
                ys[l] += wt[l] * (slope[l] * (j[l] - centre[l]) + 1.0) * ywin[l][t];
                j[l] += 1.0;
            }
        }
    } else {
        for (t, wt) in w.iter().enumerate() {
            for l in 0..LANES {
                ys[l] += wt[l] / a[l] * ywin[l][t];
            }
        }
    }
    s.results
        .extend((0..group.len()).map(|l| (a[l] > 0.0).then_some(ys[l])));
}

/// netlib's `fts`: moving averages of `np`, `np` and 3 points of `x` (`n + 2·np` points) into
/// `trend` (`n` points), through `first` and `second`. The three averages run in one loop, so
/// their running sums (each a chain of dependent additions) overlap instead of following one
/// another; each keeps netlib's `ma` arithmetic.
fn fts(x: &[f64], np: usize, trend: &mut [f64], first: &mut [f64], second: &mut [f64]) {
    let (mut ma1, mut ma2, mut ma3) = (Ma::new(np), Ma::new(np), Ma::new(3));
    let (mut i1, mut i2, mut i3) = (0, 0, 0);
    for t in 0..x.len() {
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
}

/// netlib's `ma` (moving average of `len` points) fed one point at a time.
struct Ma {
    len: usize,
    flen: f64,
    v: f64,
}

impl Ma {
    fn new(len: usize) -> Self {
        Ma {
            len,
            flen: len as f64,
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
        Some(self.v / self.flen)
    }
}

/// netlib's `rwts`: bisquare robustness weights from the residuals `y - (trend + season)`,
/// scaled by six times their median absolute value.
fn rwts(y: &[f64], trend: &[f64], season: &[f64], rw: &mut [f64], sorted: &mut [f64]) {
    let n = y.len();
    let residual = |((y, t), s): ((&f64, &f64), &f64)| (y - (t + s)).abs();
    for (r, v) in sorted
        .iter_mut()
        .zip(y.iter().zip(trend).zip(season).map(residual))
    {
        *r = v;
    }
    let mid1 = (n - 1) / 2;
    let mid2 = n / 2;
    let (below, &mut at_mid2, _) = sorted[..n].select_nth_unstable_by(mid2, f64::total_cmp);
    let at_mid1 = if mid1 == mid2 {
        at_mid2
    } else {
        below.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let cmad = 3.0 * (at_mid1 + at_mid2);
    let c9 = 0.999 * cmad;
    let c1 = 0.001 * cmad;
    for (w, r) in rw
        .iter_mut()
        .zip(y.iter().zip(trend).zip(season).map(residual))
    {
        *w = if r <= c1 {
            1.0
        } else if r <= c9 {
            pow2(1.0 - pow2(r / cmad))
        } else {
            0.0
        };
    }
}

/// netlib's `ss`: loess of each cycle-subseries of `y`, extended by one point at each end,
/// into `season` (`n + 2·np` points). The subseries are first copied out side by side (one
/// pass over `y` in order) so that each loess reads contiguous memory, not one point a cycle.
#[allow(clippy::too_many_arguments)]
fn ss(
    y: &[f64],
    np: usize,
    ns: usize,
    isdeg: i32,
    nsjump: usize,
    userw: bool,
    rw: &[f64],
    season: &mut [f64],
    c: &mut Cycles,
    s: &mut Loess,
) {
    let n = y.len();
    // Subseries j (0-based) holds y[j], y[j + np], ... at j·stride, with room for its two
    // extra points in `c.out`.
    let stride = n.div_ceil(np) + 2;
    c.y.resize(np * stride, 0.0);
    c.rw.resize(np * stride, 0.0);
    c.out.resize(np * stride, 0.0);
    by_cycles(n, np, stride, |t, at| c.y[at] = y[t]);
    if userw {
        by_cycles(n, np, stride, |t, at| c.rw[at] = rw[t]);
    }
    let len = |j: usize| (n - 1 - j) / np + 1;
    for j in 0..np {
        let k = len(j);
        let sub = &c.y[j * stride..j * stride + k];
        let sub_rw: &[f64] = if userw {
            &c.rw[j * stride..j * stride + k]
        } else {
            &[]
        };
        let out = &mut c.out[j * stride..j * stride + k + 2];
        ess(sub, ns, isdeg, nsjump, userw, sub_rw, &mut out[1..], s);
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
        est(sub, ns, isdeg, &ends, userw, sub_rw, s);
        out[0] = s.results[0].unwrap_or(out[1]);
        out[k + 1] = s.results[1].unwrap_or(out[k]);
    }
    // Back in time order: point m of subseries j is season[m·np + j], and these fill
    // season[..n + 2·np] exactly.
    by_cycles(n + 2 * np, np, stride, |t, at| season[t] = c.out[at]);
}

/// Calls `f(t, j·stride + c)` for every time index `t = c·np + j < len` (cycle `c`, phase `j`),
/// in tiles of a few cycles so that both the time order and the subseries order stay in cache.
#[inline]
fn by_cycles(len: usize, np: usize, stride: usize, mut f: impl FnMut(usize, usize)) {
    const TILE: usize = 32;
    let cycles = len.div_ceil(np);
    for c0 in (0..cycles).step_by(TILE) {
        let c1 = (c0 + TILE).min(cycles);
        for j in 0..np {
            for c in c0..c1 {
                let t = c * np + j;
                if t < len {
                    f(t, j * stride + c);
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
    use tsad_testing::{Rng, seasonal_with_anomalies};

    fn stlrs_stl(x: &[f64], period: usize, robust: bool) -> Vec<f64> {
        let (s, t, _, _) = stlrs::params()
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

    fn same_bits(name: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{name}: point {i}: {g} vs {w}");
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

    #[test]
    fn matches_stlrs_bit_for_bit() {
        for (name, x) in cases() {
            for robust in [true, false] {
                for period in [2, 3, 4, 6, 7, 12, 24, 48, 96, 288] {
                    if x.len() / 2 < period {
                        continue;
                    }
                    let got = stl_fit(&x, period, robust).unwrap();
                    same_bits(
                        &format!("{name} stl {period} robust={robust}"),
                        &got,
                        &stlrs_stl(&x, period, robust),
                    );
                }
                for periods in [&[24, 168][..], &[7, 3], &[6, 4, 12], &[96, 288]] {
                    if periods.iter().any(|&p| x.len() / 2 < p) {
                        continue;
                    }
                    let got = mstl_fit(&x, periods, robust).unwrap();
                    same_bits(
                        &format!("{name} mstl {periods:?} robust={robust}"),
                        &got,
                        &stlrs_mstl(&x, periods, robust),
                    );
                }
            }
        }
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
