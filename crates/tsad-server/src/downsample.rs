//! Choosing which points of a long series to send to a chart: min-max buckets (keep each
//! bucket's extremes) and LTTB (Largest-Triangle-Three-Buckets, keeps the visual shape).
//!
//! Both return sorted, distinct indices into the input. NaN values (missing points) never win
//! a bucket unless the whole bucket is missing, in which case its first index stands in so the
//! chart still shows the gap.
//!
//! **Cost.** [`minmax`] and [`lttb`] walk every point of the range: O(n) per call. For a
//! stored run the server builds an [`Extremes`] pyramid once (O(n), about 6 bytes a point)
//! and answers each min-max request from it in O(`max_points` · (log n + [`BLOCK`])) whatever
//! the run's length or the zoom, with the same indices as [`minmax`].

/// How to downsample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Each bucket keeps its lowest and highest value and its highest score.
    Minmax,
    /// Largest-Triangle-Three-Buckets on the values.
    Lttb,
}

/// Min-max downsampling to about `max_points` indices: the range is cut into `max_points / 3`
/// buckets, and each keeps the index of its minimum value, its maximum value and its maximum
/// score (so spikes in either chart survive). Returns every index when `n <= max_points`.
pub fn minmax(values: &[f64], scores: &[f64], max_points: usize) -> Vec<usize> {
    let n = values.len();
    if n <= max_points {
        return (0..n).collect();
    }
    let buckets = (max_points / 3).max(1);
    let mut out = Vec::with_capacity(buckets * 3);
    for b in 0..buckets {
        let (lo, hi) = (b * n / buckets, (b + 1) * n / buckets);
        if lo == hi {
            continue;
        }
        let mut picks = [
            arg_best(lo..hi, values, |a, b| a < b),
            arg_best(lo..hi, values, |a, b| a > b),
            arg_best(lo..hi, scores, |a, b| a > b),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        if picks.is_empty() {
            picks.push(lo);
        }
        picks.sort_unstable();
        picks.dedup();
        out.extend(picks);
    }
    out
}

/// Points per block of the lowest level of an [`Extremes`] pyramid; parts of a range shorter
/// than a block are scanned point by point.
pub const BLOCK: usize = 16;

/// "No finite value" in a [`Pick`].
const NONE: u32 = u32::MAX;

/// One extreme of a range: its index ([`NONE`] when nothing in the range is finite) and its
/// value, kept here so that combining picks reads no other memory.
#[derive(Debug, Clone, Copy)]
struct Pick {
    at: u32,
    x: f64,
}

/// What a min-max bucket keeps: its lowest value, its highest value and its highest score
/// (the first of equals, as [`minmax`] picks).
type Picks = [Pick; 3];

/// A min/max pyramid over a series' values and scores: for every aligned block of
/// `BLOCK · 2^k` points, the block's lowest and highest value and highest score, with their
/// indices (about 6 bytes a point in all). Any range is then covered by O(log n) blocks plus
/// fewer than `2 · BLOCK` single points, so [`Extremes::minmax`] costs O(log n + `BLOCK`) a
/// bucket instead of the bucket's length.
#[derive(Debug, Clone, Default)]
pub struct Extremes {
    /// `levels[k][j]` holds the picks of points `[j · BLOCK · 2^k, (j + 1) · BLOCK · 2^k)`.
    levels: Vec<Vec<Picks>>,
}

impl Extremes {
    /// Builds the pyramid over `values` and `scores` (of the same length): O(n).
    ///
    /// # Panics
    ///
    /// When the series has `u32::MAX` points or more.
    pub fn new(values: &[f64], scores: &[f64]) -> Self {
        assert!(
            values.len() < NONE as usize,
            "too many points for u32 indices"
        );
        let mut level: Vec<Picks> = (0..values.len() / BLOCK)
            .map(|j| scan(j * BLOCK..(j + 1) * BLOCK, values, scores))
            .collect();
        let mut levels = Vec::new();
        while !level.is_empty() {
            let up = level
                .chunks_exact(2)
                .map(|pair| combine(pair[0], pair[1]))
                .collect();
            levels.push(std::mem::replace(&mut level, up));
        }
        Extremes { levels }
    }

    /// The picks of `range`: the scanned ends and the largest aligned blocks between them.
    fn picks(&self, range: std::ops::Range<usize>, values: &[f64], scores: &[f64]) -> Picks {
        let (lo, hi) = (range.start, range.end);
        let (first, last) = (lo.div_ceil(BLOCK), hi / BLOCK);
        if first >= last {
            return scan(lo..hi, values, scores);
        }
        let mut picks = combine(
            scan(lo..first * BLOCK, values, scores),
            scan(last * BLOCK..hi, values, scores),
        );
        // Blocks [l, r) of level k: take the odd ends, then go up a level.
        let (mut l, mut r) = (first, last);
        for level in &self.levels {
            if l >= r {
                break;
            }
            if l % 2 == 1 {
                picks = combine(picks, level[l]);
                l += 1;
            }
            if r % 2 == 1 {
                r -= 1;
                picks = combine(picks, level[r]);
            }
            (l, r) = (l / 2, r / 2);
        }
        picks
    }

    /// [`minmax`] of `values[range]` and `scores[range]` (the arrays this pyramid was built
    /// on), as indices into the whole arrays: the same points, in O(`max_points` ·
    /// (log n + `BLOCK`)).
    pub fn minmax(
        &self,
        values: &[f64],
        scores: &[f64],
        range: std::ops::Range<usize>,
        max_points: usize,
    ) -> Vec<usize> {
        let (lo, n) = (range.start, range.len());
        if n <= max_points {
            return range.collect();
        }
        let buckets = (max_points / 3).max(1);
        let mut out = Vec::with_capacity(buckets * 3);
        for b in 0..buckets {
            let (start, end) = (lo + b * n / buckets, lo + (b + 1) * n / buckets);
            if start == end {
                continue;
            }
            let mut picks = self.picks(start..end, values, scores).map(|p| p.at);
            picks.sort_unstable();
            let before = out.len();
            for (k, &p) in picks.iter().enumerate() {
                if p != NONE && (k == 0 || p != picks[k - 1]) {
                    out.push(p as usize);
                }
            }
            if out.len() == before {
                out.push(start);
            }
        }
        out
    }
}

/// Whether `a` beats `b` as the lowest (`lowest`) or the highest: a finite value beats a
/// missing one, and of equal values the first wins, as in [`minmax`].
fn beats(a: Pick, b: Pick, lowest: bool) -> bool {
    if a.at == NONE {
        return false;
    }
    if b.at == NONE {
        return true;
    }
    let strictly = if lowest { a.x < b.x } else { a.x > b.x };
    strictly || (a.x == b.x && a.at < b.at)
}

/// The picks of the union of two ranges.
fn combine(a: Picks, b: Picks) -> Picks {
    let pick = |k: usize, lowest: bool| {
        if beats(b[k], a[k], lowest) {
            b[k]
        } else {
            a[k]
        }
    };
    [pick(0, true), pick(1, false), pick(2, false)]
}

/// The picks of `range`, point by point. Written without branches on the data (a new
/// extreme is a select, not a jump), which makes it several times faster on noisy series.
fn scan(range: std::ops::Range<usize>, values: &[f64], scores: &[f64]) -> Picks {
    let (mut lowest, mut highest, mut top) = (
        (NONE, f64::INFINITY),
        (NONE, f64::NEG_INFINITY),
        (NONE, f64::NEG_INFINITY),
    );
    for i in range {
        let (v, s, at) = (values[i], scores[i], i as u32);
        // Strict comparisons keep the first of equals and skip NaN; the bounds skip infinities.
        let lower = v < lowest.1 && v > f64::NEG_INFINITY;
        lowest = if lower { (at, v) } else { lowest };
        let higher = v > highest.1 && v < f64::INFINITY;
        highest = if higher { (at, v) } else { highest };
        let above = s > top.1 && s < f64::INFINITY;
        top = if above { (at, s) } else { top };
    }
    [lowest, highest, top].map(|(at, x)| Pick { at, x })
}

/// The index in `range` whose finite value is best by `better`, if any is finite.
fn arg_best(
    range: std::ops::Range<usize>,
    xs: &[f64],
    better: impl Fn(f64, f64) -> bool,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in range {
        let x = xs.get(i).copied().unwrap_or(f64::NAN);
        if x.is_finite() && best.is_none_or(|b| better(x, xs[b])) {
            best = Some(i);
        }
    }
    best
}

/// LTTB downsampling of the points `(x[i], y[i])` to `max_points` indices (Steinarsson 2013,
/// "Downsampling Time Series for Visual Representation", section 4.2). The first and last
/// points are always kept. Returns every index when `n <= max_points` or `max_points < 3`
/// would leave no middle bucket.
pub fn lttb(x: &[f64], y: &[f64], max_points: usize) -> Vec<usize> {
    let n = x.len().min(y.len());
    if n <= max_points || max_points < 3 {
        return (0..n).collect();
    }
    let buckets = max_points - 2;
    // Bucket b (0-based) of the n - 2 middle points covers [start(b), start(b + 1)).
    let start = |b: usize| 1 + b * (n - 2) / buckets;
    let mut out = Vec::with_capacity(max_points);
    out.push(0);
    let mut a = 0usize; // the point picked in the previous bucket
    for b in 0..buckets {
        let (lo, hi) = (start(b), start(b + 1));
        // The average of the next bucket (or the last point, after the final bucket).
        let (next_lo, next_hi) = if b + 1 < buckets {
            (start(b + 1), start(b + 2))
        } else {
            (n - 1, n)
        };
        let (mut sx, mut sy, mut k) = (0.0, 0.0, 0usize);
        for j in next_lo..next_hi {
            if y[j].is_finite() {
                sx += x[j];
                sy += y[j];
                k += 1;
            }
        }
        let avg = (k > 0).then(|| (sx / k as f64, sy / k as f64));
        let (ax, ay) = (x[a], y[a]);
        let mut best: Option<(usize, f64)> = None;
        for j in lo..hi {
            if !y[j].is_finite() {
                continue;
            }
            let area = match (avg, ay.is_finite()) {
                (Some((cx, cy)), true) => ((ax - cx) * (y[j] - ay) - (ax - x[j]) * (cy - ay)).abs(),
                // No reference on one side: prefer the point farthest from what we have.
                (Some((_, cy)), false) => (y[j] - cy).abs(),
                (None, true) => (y[j] - ay).abs(),
                (None, false) => 0.0,
            };
            if best.is_none_or(|(_, b)| area > b) {
                best = Some((j, area));
            }
        }
        let pick = best.map_or(lo, |(j, _)| j);
        if lo < hi {
            out.push(pick);
            a = pick;
        }
    }
    out.push(n - 1);
    out.dedup();
    out
}

/// Merges `extra` indices (flagged points) into the sorted `picked`, keeping at most `cap`
/// of the extras (evenly spaced) so a threshold that flags half the points cannot defeat the
/// downsampling.
pub fn with_extras(mut picked: Vec<usize>, extra: &[usize], cap: usize) -> Vec<usize> {
    if extra.len() <= cap {
        picked.extend_from_slice(extra);
    } else if cap > 0 {
        picked.extend((0..cap).map(|k| extra[k * extra.len() / cap]));
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_distinct(v: &[usize]) -> bool {
        v.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn minmax_cases() {
        type Case = (&'static str, Vec<f64>, Vec<f64>, usize, Vec<usize>);
        let cases: Vec<Case> = vec![
            (
                "short input kept whole",
                vec![1.0, 2.0],
                vec![0.0; 2],
                10,
                vec![0, 1],
            ),
            (
                "one bucket keeps min, max and top score",
                vec![5.0, 1.0, 9.0, 4.0, 3.0],
                vec![0.0, 0.0, 0.0, 7.0, 0.0],
                3,
                vec![1, 2, 3],
            ),
            (
                "two buckets",
                vec![0.0, 10.0, 2.0, 3.0, -1.0, 1.0, 8.0, 2.0],
                vec![0.0; 8],
                6,
                vec![0, 1, 4, 6],
            ),
            (
                "an all-missing bucket shows its gap",
                vec![f64::NAN, f64::NAN, f64::NAN, f64::NAN, 1.0, 2.0, 3.0, 4.0],
                vec![f64::NAN; 8],
                6,
                vec![0, 4, 7],
            ),
            (
                "missing values never win",
                vec![f64::NAN, 5.0, f64::NAN, 1.0, 2.0, 3.0],
                vec![f64::NAN, 1.0, 2.0, f64::NAN, 0.0, 0.0],
                3,
                vec![1, 2, 3],
            ),
        ];
        for (name, v, s, max, want) in cases {
            let got = minmax(&v, &s, max);
            assert!(sorted_distinct(&got), "{name}");
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn minmax_bounds_and_keeps_spikes() {
        let n = 100_000;
        let mut v: Vec<f64> = (0..n).map(|i| (i as f64 / 50.0).sin()).collect();
        v[77_777] = 50.0;
        v[12_345] = -50.0;
        let picked = minmax(&v, &vec![0.0; n], 2000);
        assert!(picked.len() <= 2000, "{}", picked.len());
        assert!(sorted_distinct(&picked));
        assert!(picked.contains(&77_777) && picked.contains(&12_345));
    }

    /// The pyramid picks exactly what the point-by-point walk picks, for any range and size:
    /// ties, missing values, all-missing stretches, ranges inside one block and across many.
    #[test]
    fn extremes_pick_what_minmax_picks() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for n in [0, 1, 15, 16, 17, 100, 1000, 5003] {
            // Few distinct values, so ties are common; some missing, and one missing stretch.
            let mut values: Vec<f64> = (0..n).map(|_| (next() % 7) as f64).collect();
            let mut scores: Vec<f64> = (0..n).map(|_| (next() % 5) as f64).collect();
            for i in 0..n {
                if next() % 10 == 0 {
                    values[i] = f64::NAN;
                }
                if next() % 10 == 0 {
                    scores[i] = f64::NAN;
                }
            }
            if n > 200 {
                values[100..180].fill(f64::NAN);
                scores[100..180].fill(f64::NAN);
            }
            let pyramid = Extremes::new(&values, &scores);
            for _ in 0..200 {
                let (a, b) = (next() % (n + 1), next() % (n + 1));
                let (lo, hi) = (a.min(b), a.max(b));
                let max_points = [3, 4, 10, 60, 2000][next() % 5];
                let want: Vec<usize> = minmax(&values[lo..hi], &scores[lo..hi], max_points)
                    .into_iter()
                    .map(|i| lo + i)
                    .collect();
                let got = pyramid.minmax(&values, &scores, lo..hi, max_points);
                assert_eq!(
                    got, want,
                    "n {n}, range {lo}..{hi}, max_points {max_points}"
                );
            }
        }
    }

    #[test]
    fn lttb_cases() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let flat = vec![1.0; 10];
        assert_eq!(lttb(&x, &flat, 20), (0..10).collect::<Vec<_>>(), "short");
        assert_eq!(lttb(&x, &flat, 2), (0..10).collect::<Vec<_>>(), "too few");
        let mut spike = flat.clone();
        spike[6] = 100.0;
        let picked = lttb(&x, &spike, 4);
        assert_eq!(picked.len(), 4);
        assert_eq!((picked[0], picked[3]), (0, 9), "ends kept");
        assert!(picked.contains(&6), "spike kept: {picked:?}");
        let mut gaps = spike.clone();
        gaps[1..5].fill(f64::NAN);
        let picked = lttb(&x, &gaps, 4);
        assert!(sorted_distinct(&picked));
        assert!(picked.contains(&6), "{picked:?}");
    }

    #[test]
    fn lttb_matches_the_reference_implementation() {
        // Expected indices from a plain-Python transcription of the reference implementation
        // (github.com/sveinn-steinarsson/flot-downsample, `largestTriangleThreeBuckets`),
        // run on the same inputs.
        type Case = (&'static str, Vec<f64>, usize, Vec<usize>);
        let cases: Vec<Case> = vec![
            (
                "sawtooth",
                (0..20).map(|i| ((i * 7) % 11) as f64).collect(),
                6,
                vec![0, 3, 5, 11, 14, 19],
            ),
            (
                "sine plus steps",
                (0..50)
                    .map(|i| (f64::from(i) / 3.0).sin() * 10.0 + f64::from(i % 5))
                    .collect(),
                10,
                vec![0, 4, 11, 15, 23, 30, 35, 39, 44, 49],
            ),
        ];
        for (name, y, max, want) in cases {
            let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
            assert_eq!(lttb(&x, &y, max), want, "{name}");
        }
    }

    #[test]
    fn extras_are_merged_and_capped() {
        assert_eq!(with_extras(vec![0, 5, 9], &[5, 7], 10), vec![0, 5, 7, 9]);
        let extra: Vec<usize> = (100..200).collect();
        let merged = with_extras(vec![0], &extra, 10);
        assert_eq!(merged.len(), 11);
        assert_eq!(with_extras(vec![3], &[1, 2], 0), vec![3]);
    }
}
