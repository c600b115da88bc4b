//! The nearest earlier shape behind `novelty`'s `shape` feature: the distance from the newest
//! run of block means to the nearest earlier run, exact, without visiting most earlier runs.
//!
//! Run `k` is block means `k .. k + length` of one sequence. The distance of the newest run to
//! its nearest earlier run that does not overlap it (the left matrix profile of the block
//! means, over the last `history` runs) costs O(`history` · `length`) per block by brute force:
//! 27 000 multiply-adds per point at the defaults, which made a million points take a minute.
//! Two things cut it down:
//!
//! 1. **A k-d tree** over the comparable runs (as points in `length` dimensions), each node
//!    with its bounding box. The squared distance from the new run to a box bounds the
//!    distance to every run inside it from below, so the search skips every box farther than
//!    the best distance so far, and abandons a run's distance once its partial sum passes
//!    that best. The history slides (a run joins and, once it is full, the oldest leaves at
//!    every block), so there is not one tree but a few, over consecutive spans of runs, kept
//!    like the digits of a binary counter (Bentley and Saxe's logarithmic method): new runs
//!    wait in a buffer of [`BUFFER`] that is scanned one by one, a full buffer becomes a tree,
//!    and a tree is rebuilt together with the next older one while that one is no larger.
//! 2. **The caller rarely needs the exact distance.** The feature scores how far the distance
//!    lies outside the range `[lo, hi]` of the earlier distances, and a distance inside that
//!    range changes neither the score nor the range. So [`Shapes::push`] stops as soon as it
//!    has seen a run within `hi` and ruled out every run nearer than `lo`: it returns the
//!    exact distance only when that lies outside `[lo, hi]` (a new record, which is rare), and
//!    some value inside the range otherwise. Ruling out runs nearer than `lo` is cheap because
//!    `lo`, the smallest distance seen so far, is small: few boxes lie that close.
//!
//! **Cost** per block end: the buffer (fewer than [`BUFFER`] runs, most abandoned after a term
//! or two), O(log² `history`) amortised for the rebuilds (each run is rebuilt
//! O(log `history`) times, at O(log `history`) each), and the boxes and runs the search
//! visits in the O(log `history`) trees: few when the new run is within `[lo, hi]` of its
//! nearest run, up to all `history` runs of `length` values each for a new record, whose
//! nearest run can be far. Measured on a million points at the
//! defaults: see the `novelty` rows of the README's speed table. Memory
//! O(`history` · (1 + `length` / leaf size) + `length`).
//!
//! **Exactness.** Where the distance is returned it is bit-identical to the brute-force scan's:
//! each visited run's distance is the same sum in the same order, and a box's bound is
//! computed term by term from the same coordinates, so in floating point too it is never above
//! the distance of a run inside the box (rounding is monotone). A test compares the two on
//! several kinds of series, extreme values included.

/// Runs that wait, scanned one by one, before they become a tree.
const BUFFER: usize = 32;
/// Most runs in a leaf of a tree.
const LEAF: usize = 16;

/// Runs of block means, a k-d tree of the comparable ones, and the search for the nearest.
#[derive(Debug, Clone)]
pub(super) struct Shapes {
    block: usize,
    length: usize,
    history: usize,
    /// Sum and count of the block being filled.
    acc: f64,
    filled: usize,
    /// Block means from block `base` on: `means[i]` is block `base + i`.
    means: Vec<f64>,
    base: usize,
    /// Blocks completed so far.
    blocks: usize,
    /// Comparable runs not yet in a tree (fewer than [`BUFFER`]).
    buffer: Vec<usize>,
    /// Trees over consecutive spans of runs, oldest (and largest) first.
    trees: Vec<Tree>,
}

impl Shapes {
    pub(super) fn new(block: usize, length: usize, history: usize) -> Self {
        Shapes {
            block,
            length,
            history,
            acc: 0.0,
            filled: 0,
            means: Vec::new(),
            base: 0,
            blocks: 0,
            buffer: Vec::new(),
            trees: Vec::new(),
        }
    }

    /// Adds a value. At the end of a block, once an earlier run exists that does not overlap
    /// the newest one, returns the distance `d` from the newest run to its nearest earlier run
    /// if `d` lies outside `[lo, hi]`, and otherwise some value inside `[lo, hi]`. Pass
    /// `lo > hi` (an empty range) for the exact distance every time.
    pub(super) fn push(&mut self, v: f64, lo: f64, hi: f64) -> Option<f64> {
        self.acc += v;
        self.filled += 1;
        if self.filled < self.block {
            return None;
        }
        self.means.push(self.acc / self.block as f64);
        (self.acc, self.filled) = (0.0, 0);
        self.blocks += 1;
        if self.blocks < self.length {
            return None;
        }
        let newest = self.blocks - self.length;
        // The runs kept are the last `history` before the newest; the last `length` of those
        // overlap it. So at each block one run becomes comparable and, once `history` runs
        // exist, the oldest leaves.
        let oldest = newest.saturating_sub(self.history);
        let joining = newest.checked_sub(self.length + 1)?;
        self.keep(joining, oldest);
        let mut search = Search {
            query: self.run(newest),
            lo,
            hi,
            best_sum: f64::INFINITY,
            best: f64::INFINITY,
        };
        for &run in self.buffer.iter().filter(|&&r| r >= oldest) {
            search.offer(self.run(run));
        }
        // Newest trees first: on a drifting series they hold the nearest runs.
        for tree in self.trees.iter().rev() {
            tree.search(0, self, oldest, &mut search);
        }
        Some(search.best)
    }

    /// Adds run `joining` to the comparable runs and forgets those before `oldest`, keeping
    /// the trees' sizes in a binary counter's pattern: a full buffer becomes a tree, merged
    /// (rebuilt) with the newest tree while that is no larger, so each run is rebuilt
    /// O(log `history`) times in all. Runs that left the history are skipped by the search
    /// until their tree is rebuilt: once they are half of the oldest tree, or at a merge.
    fn keep(&mut self, joining: usize, oldest: usize) {
        self.buffer.push(joining);
        if self.buffer.len() >= BUFFER {
            let mut runs = std::mem::take(&mut self.buffer);
            runs.retain(|&r| r >= oldest);
            while let Some(last) = self.trees.pop_if(|t| t.runs.len() <= runs.len()) {
                runs.extend(last.runs.iter().copied().filter(|&r| r >= oldest));
            }
            if !runs.is_empty() {
                let tree = Tree::build(runs, &self.means, self.base, self.length);
                self.trees.push(tree);
            }
        }
        if let Some(first) = self.trees.first()
            && 2 * first.live(oldest) < first.runs.len()
        {
            let first = self.trees.remove(0);
            let live: Vec<usize> = first.runs.into_iter().filter(|&r| r >= oldest).collect();
            if !live.is_empty() {
                let tree = Tree::build(live, &self.means, self.base, self.length);
                self.trees.insert(0, tree);
            }
        }
        // Only the block means from the oldest run on are read again (dropped in chunks:
        // amortised O(1)).
        if oldest - self.base > self.history.max(1024) {
            self.means.drain(..oldest - self.base);
            self.base = oldest;
        }
    }

    fn run(&self, run: usize) -> &[f64] {
        &self.means[run - self.base..][..self.length]
    }
}

/// The state of one search: the best distance so far and what still matters.
#[derive(Debug)]
struct Search<'a> {
    query: &'a [f64],
    lo: f64,
    hi: f64,
    best_sum: f64,
    best: f64,
}

impl Search<'_> {
    /// The squared distance above which a run cannot matter any more, or `None` when the
    /// search is over. Once a run within `hi` was seen, the distance is known to be at most
    /// `hi`, and only a run nearer than `lo` still matters (with a margin far above the
    /// rounding of a square root); otherwise, only a run nearer than the best.
    fn cut(&self) -> Option<f64> {
        if self.lo <= self.best && self.best <= self.hi {
            (self.lo > 0.0).then_some(self.lo * self.lo * (1.0 + 1e-9))
        } else {
            Some(self.best_sum)
        }
    }

    fn offer(&mut self, run: &[f64]) {
        if let Some(cut) = self.cut()
            && let Some(sum) = sum_of_squares_below(run, self.query, cut)
            && sum < self.best_sum
        {
            self.best_sum = sum;
            self.best = sum.sqrt();
        }
    }
}

/// A k-d tree of runs (points in `length` dimensions) with a bounding box per node.
#[derive(Debug, Clone, Default)]
struct Tree {
    /// Run numbers, ordered so that every node's runs are contiguous. They are the runs
    /// from `first` to `last`, consecutive (a tree is built from a buffer of new runs and
    /// the tree before them, less the runs that left the history).
    runs: Vec<usize>,
    first: usize,
    last: usize,
    /// Nodes in depth-first order; the root is node 0.
    nodes: Vec<Node>,
    /// Node `i`'s box is `low[i * length ..][..length]` to `high[i * length ..][..length]`.
    low: Vec<f64>,
    high: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Node {
    /// The node's runs: `runs[start..end]`.
    start: usize,
    end: usize,
    /// The two halves, or none for a leaf.
    children: Option<(usize, usize)>,
}

impl Tree {
    /// Splits at the median of each dimension in turn (no box is needed to choose), then
    /// computes the boxes from the leaves up: O(n log n + n · length).
    fn build(runs: Vec<usize>, means: &[f64], base: usize, length: usize) -> Tree {
        let mut tree = Tree {
            first: runs.iter().copied().min().unwrap_or(0),
            last: runs.iter().copied().max().unwrap_or(0),
            runs,
            ..Tree::default()
        };
        if !tree.runs.is_empty() {
            tree.split(0, tree.runs.len(), 0, means, base, length);
        }
        tree
    }

    fn split(
        &mut self,
        start: usize,
        end: usize,
        dim: usize,
        means: &[f64],
        base: usize,
        length: usize,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            start,
            end,
            children: None,
        });
        self.low.resize((id + 1) * length, f64::INFINITY);
        self.high.resize((id + 1) * length, f64::NEG_INFINITY);
        if end - start <= LEAF {
            for &run in &self.runs[start..end] {
                let point = &means[run - base..][..length];
                for (k, &x) in point.iter().enumerate() {
                    let low = &mut self.low[id * length + k];
                    *low = low.min(x);
                    let high = &mut self.high[id * length + k];
                    *high = high.max(x);
                }
            }
            return id;
        }
        let mid = start + (end - start) / 2;
        let coordinate = |run: &usize| means[run - base + dim];
        self.runs[start..end]
            .select_nth_unstable_by(mid - start, |a, b| coordinate(a).total_cmp(&coordinate(b)));
        let next = (dim + 1) % length;
        let left = self.split(start, mid, next, means, base, length);
        let right = self.split(mid, end, next, means, base, length);
        self.nodes[id].children = Some((left, right));
        for k in 0..length {
            self.low[id * length + k] =
                self.low[left * length + k].min(self.low[right * length + k]);
            self.high[id * length + k] =
                self.high[left * length + k].max(self.high[right * length + k]);
        }
        id
    }

    /// How many of the runs are `oldest` or later.
    fn live(&self, oldest: usize) -> usize {
        (self.last + 1).saturating_sub(self.first.max(oldest))
    }

    /// The squared distance from `query` to node `id`'s box, or `None` once it passes `cut`.
    fn box_distance(&self, id: usize, query: &[f64], cut: f64) -> Option<f64> {
        let n = query.len();
        let (low, high) = (&self.low[id * n..][..n], &self.high[id * n..][..n]);
        let mut sum = 0.0;
        for ((&q, &l), &h) in query.iter().zip(low).zip(high) {
            // `c - q` for the box's nearest coordinate `c`: no larger than for any run inside.
            let d = if q < l {
                l - q
            } else if q > h {
                q - h
            } else {
                0.0
            };
            sum += d * d;
            if sum > cut {
                return None;
            }
        }
        Some(sum)
    }

    /// Offers the live runs (`>= oldest`) of node `id` to the search, nearer half first.
    fn search(&self, id: usize, shapes: &Shapes, oldest: usize, s: &mut Search<'_>) {
        let node = &self.nodes[id];
        match node.children {
            None => {
                for &run in &self.runs[node.start..node.end] {
                    if run >= oldest {
                        s.offer(shapes.run(run));
                    }
                }
            }
            Some((left, right)) => {
                let Some(cut) = s.cut() else { return };
                let near = |child| Some((self.box_distance(child, s.query, cut)?, child));
                let mut halves = [near(left), near(right)];
                if let [Some(a), Some(b)] = halves
                    && b.0 < a.0
                {
                    halves.swap(0, 1);
                }
                for (bound, child) in halves.into_iter().flatten() {
                    // The first half's search may have lowered the cut.
                    if s.cut().is_some_and(|cut| bound <= cut) {
                        self.search(child, shapes, oldest, s);
                    }
                }
            }
        }
    }
}

/// `sum((a - b)²)` in order, or `None` as soon as a partial sum exceeds `cut` (the terms are
/// not negative, so the whole sum would too).
fn sum_of_squares_below(a: &[f64], b: &[f64], cut: f64) -> Option<f64> {
    let mut sum = 0.0;
    for (x, y) in a.iter().zip(b) {
        sum += (x - y) * (x - y);
        if sum > cut {
            return None;
        }
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_testing::Rng;

    /// The brute-force scan this module replaced, over a flat buffer of stored runs.
    #[derive(Debug)]
    struct BruteForce {
        block: usize,
        length: usize,
        history: usize,
        acc: f64,
        filled: usize,
        means: Vec<f64>,
        runs: Vec<f64>,
    }

    impl BruteForce {
        fn push(&mut self, v: f64) -> Option<f64> {
            self.acc += v;
            self.filled += 1;
            if self.filled < self.block {
                return None;
            }
            self.means.push(self.acc / self.block as f64);
            (self.acc, self.filled) = (0.0, 0);
            if self.means.len() > self.length {
                self.means.remove(0);
            }
            if self.means.len() < self.length {
                return None;
            }
            let comparable = (self.runs.len() / self.length).saturating_sub(self.length);
            let nearest = (comparable > 0).then(|| {
                self.runs[..comparable * self.length]
                    .chunks_exact(self.length)
                    .map(|run| {
                        run.iter()
                            .zip(&self.means)
                            .map(|(x, y)| (x - y) * (x - y))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            });
            self.runs.extend(&self.means);
            if self.runs.len() / self.length > self.history {
                self.runs.drain(..self.length);
            }
            nearest
        }
    }

    fn series(kind: &str, n: usize) -> Vec<f64> {
        let mut rng = Rng::new(11);
        let mut level = 0.0;
        (0..n)
            .map(|i| match kind {
                "noise" => rng.normal(),
                "walk" => {
                    level += rng.normal();
                    level
                }
                "sine" => (i as f64 * 0.3).sin() + 0.1 * rng.normal(),
                // Few distinct values: many exact repeats and zero distances.
                "steps" => (rng.below(4) as f64) * 10.0,
                // Squares overflow to infinity.
                "huge" => 1e300 * rng.normal(),
                // Block sums overflow too: infinite means, NaN differences.
                "overflow" => f64::MAX * rng.normal().signum(),
                _ => unreachable!(),
            })
            .collect()
    }

    /// The search agrees with the brute-force scan: exactly when asked for the exact
    /// distance, and when given a range, exactly outside it and somewhere inside it otherwise.
    #[test]
    fn agrees_with_brute_force() {
        for kind in ["noise", "walk", "sine", "steps", "huge", "overflow"] {
            for (block, length, history) in [(3, 8, 200), (1, 2, 50), (2, 5, 3)] {
                let (history, length) = (history.max(length + 1), length);
                let mut reference = BruteForce {
                    block,
                    length,
                    history,
                    acc: 0.0,
                    filled: 0,
                    means: Vec::new(),
                    runs: Vec::new(),
                };
                let mut exact = Shapes::new(block, length, history);
                let mut ranged = Shapes::new(block, length, history);
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for (i, v) in series(kind, 3000).into_iter().enumerate() {
                    let want = reference.push(v);
                    let got = exact.push(v, f64::INFINITY, f64::NEG_INFINITY);
                    let case = format!("{kind} ({block}, {length}, {history}) at {i}");
                    assert_eq!(
                        want.map(f64::to_bits),
                        got.map(f64::to_bits),
                        "exact: {case}"
                    );
                    let got = ranged.push(v, lo, hi);
                    assert_eq!(want.is_some(), got.is_some(), "{case}");
                    if let (Some(want), Some(got)) = (want, got) {
                        if want < lo || want > hi {
                            assert_eq!(want.to_bits(), got.to_bits(), "outside: {case}");
                        } else {
                            assert!(lo <= got && got <= hi, "inside: {case}");
                        }
                        (lo, hi) = (lo.min(want), hi.max(want));
                    }
                }
            }
        }
    }
}
