// Plotly charts: values with expected/band/anomalies/event shading and the training part, the
// thresholded scale with its cut-off (the calibrated rarity for auto/sensitivity, else the raw
// score; ensemble members), linked x-axes that report the visible range, and the Benford digits.

import { fmtNum } from "./util.js";

const COLORS = {
  actual: "#1f3a5f",
  expected: "#8a94a6",
  band: "rgba(138, 148, 166, 0.22)",
  anomaly: "#d62828",
  label: "#e09f3e",
  score: "#334155",
  threshold: "#d62828",
  shade: "rgba(214, 40, 40, 0.10)",
  training: "rgba(42, 157, 143, 0.10)",
  trainingEdge: "rgba(42, 157, 143, 0.55)",
  shadeSelected: "rgba(214, 40, 40, 0.26)",
  compare: "#3d85c6",
  routine: "#98a2b3",
  members: ["#2a9d8f", "#7b5ea7", "#e76f51", "#3d85c6", "#8ab17d", "#b5838d"],
};
const MAX_SHAPES = 400;
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#2b3340" };
const CONFIG = {
  responsive: true,
  displaylogo: false,
  scrollZoom: false,
  showTips: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
};

/** On a narrow screen the mode bar would cover the legend: zoom by dragging, reset by a
 * double-click, as the hint under the chart says. */
function chartConfig() {
  return window.innerWidth < 640 ? { ...CONFIG, displayModeBar: false } : CONFIG;
}

export function plotlyReady() {
  return typeof window.Plotly === "object" && typeof window.Plotly.react === "function";
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Builds the two linked charts. onRangeChange([from, to] | null) fires (debounced by the caller). */
export function createCharts({ main, score, onRangeChange }) {
  let timeAxis = "epoch_millis";
  let range = null; // [from, to] in series units (ms or index), null = everything
  let syncing = false;
  let last = null; // last render input, for shape-only updates
  let ready = false;
  let marksNow = []; // the user's marks, kept across redraws (they may arrive before the points)
  let compareNow = null; // {events, label}: another run's events, drawn along the bottom

  const isDate = () => timeAxis === "epoch_millis";
  const toX = (t) => {
    if (!isDate() || t == null) return t;
    const d = new Date(t);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
  };
  const fromX = (x) => {
    if (typeof x === "number") return x;
    if (!isDate()) return Number(x);
    const [day, time = "00:00:00"] = String(x).trim().split(/[ T]/);
    const t = time.replace(/(\.\d{3})\d+$/, "$1");
    const ms = Date.parse(`${day}T${t.length === 5 ? t + ":00" : t}Z`);
    return Number.isNaN(ms) ? null : ms;
  };

  function baseLayout(height, yTitle) {
    return {
      height,
      margin: { l: 64, r: 16, t: 8, b: 36 },
      font: FONT,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      hovermode: "x unified",
      dragmode: "zoom",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 }, bgcolor: "rgba(255,255,255,0.6)" },
      xaxis: {
        type: isDate() ? "date" : "linear",
        gridcolor: "#eef0f3",
        linecolor: "#c9ced6",
        zeroline: false,
        hoverformat: isDate() ? "%Y-%m-%d %H:%M:%S" : ",d",
        ...(range ? { range: [toX(range[0]), toX(range[1])], autorange: false } : { autorange: true }),
      },
      yaxis: { title: { text: yTitle, font: { size: 11 } }, gridcolor: "#eef0f3", zeroline: false, fixedrange: true, automargin: true },
      uirevision: "keep",
    };
  }

  /** How far an event's shading reaches beyond its first and last points: half a step, but
   * never thinner than ~0.3% of the visible span, so a one-point event stays visible when
   * zoomed out. */
  function shadeHalf(step) {
    const t = last?.points?.t || [];
    const span = range ? range[1] - range[0] : t.length > 1 ? t[t.length - 1] - t[0] : 0;
    return Math.max((step || (isDate() ? 1000 : 1)) / 2, span * 0.0015);
  }

  function eventShapes(events, selected, step, strong) {
    if (!events?.length) return [];
    const half = shadeHalf(step);
    const shapes = [];
    const [lo, hi] = range || [-Infinity, Infinity];
    events.forEach((e, i) => {
      const sel = i === selected;
      if (!sel && (e.end_time + half < lo || e.start_time - half > hi)) return;
      if (!sel && shapes.length >= MAX_SHAPES) return;
      shapes.push({
        type: "rect", xref: "x", yref: "paper", layer: "below",
        x0: toX(e.start_time - half), x1: toX(e.end_time + half), y0: 0, y1: 1,
        fillcolor: sel ? COLORS.shadeSelected : strong ? COLORS.shade : "rgba(214, 40, 40, 0.06)",
        line: sel ? { color: COLORS.anomaly, width: 1 } : { width: 0 },
      });
    });
    return shapes;
  }

  /** The training part (first rows the detector learnt normal from), shaded green-grey. */
  function trainingShapes(training) {
    if (!training || training.start == null || training.end == null) return [];
    const half = (last?.step || (isDate() ? 1000 : 1)) / 2;
    return [{
      type: "rect", name: "training part", xref: "x", yref: "paper", layer: "below",
      x0: toX(training.start - half), x1: toX(training.end + half), y0: 0, y1: 1,
      fillcolor: COLORS.training, line: { color: COLORS.trainingEdge, width: 1, dash: "dot" },
    }];
  }

  /** The user's marks: a band along the top of the main chart, coloured by verdict. */
  function markShapes(marks) {
    if (!marks?.length) return [];
    const half = (last?.step || (isDate() ? 1000 : 1)) / 2;
    const color = { confirmed: "#2a9d8f", missed: "#e76f51", false_alarm: "#98a2b3", unsure: "#e9c46a" };
    return marks.map((m) => ({
      type: "rect", name: `mark: ${m.verdict}`, xref: "x", yref: "paper", layer: "above",
      x0: toX(m.start_time - half), x1: toX(m.end_time + half), y0: 0.965, y1: 1,
      fillcolor: color[m.verdict] || "#98a2b3", opacity: 0.85, line: { width: 0 },
    }));
  }

  /** Another run's events (a comparison): a band along the bottom of the main chart. */
  function compareShapes() {
    if (!compareNow?.events?.length) return [];
    const half = shadeHalf(last?.step);
    const [lo, hi] = range || [-Infinity, Infinity];
    return compareNow.events
      .filter((e) => e.end_time + half >= lo && e.start_time - half <= hi)
      .slice(0, MAX_SHAPES)
      .map((e) => ({
        type: "rect", name: "compared run's event", xref: "x", yref: "paper", layer: "above",
        x0: toX(e.start_time - half), x1: toX(e.end_time + half), y0: 0, y1: 0.04,
        fillcolor: COLORS.compare, opacity: 0.85, line: { width: 0 },
      }));
  }

  function mainShapes() {
    return [...trainingShapes(last.training), ...eventShapes(last.events, last.selected, last.step, true), ...markShapes(marksNow), ...compareShapes(), ...routineShapes()];
  }

  /** The peaks set aside as the series' routine: grey ticks along the top of the main chart,
   * under the user's marks. */
  function routineShapes() {
    const peaks = (last?.routine || []).flatMap((r) => r.peaks || []);
    if (!peaks.length) return [];
    const half = shadeHalf(last?.step);
    const [lo, hi] = range || [-Infinity, Infinity];
    return peaks
      .filter((t) => t + half >= lo && t - half <= hi)
      .slice(0, MAX_SHAPES)
      .map((t) => ({
        type: "rect", name: "routine", xref: "x", yref: "paper", layer: "above",
        x0: toX(t - half), x1: toX(t + half), y0: 0.92, y1: 0.955,
        fillcolor: COLORS.routine, opacity: 0.9, line: { width: 0 },
      }));
  }

  function trainingNote(training) {
    if (!training || training.start == null || training.end == null) return [];
    return [{
      xref: "x", x: toX(training.start), xanchor: "left", yref: "paper", y: 1, yanchor: "top",
      text: "training part", showarrow: false, font: { size: 10, color: "#1d6b61" },
      bgcolor: "rgba(255,255,255,0.7)",
    }];
  }

  function thresholdShape(value) {
    if (value == null || !Number.isFinite(value)) return [];
    return [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: value, y1: value, line: { color: COLORS.threshold, width: 1.5, dash: "dash" } }];
  }

  function thresholdNote(value) {
    if (value == null || !Number.isFinite(value)) return [];
    const text = last?.scale === "rarity"
      ? `cut-off: rarity ${fmtNum(value)} (1 in ${fmtNum(10 ** value)})`
      : `threshold ${fmtNum(value)}`;
    return [{ xref: "paper", x: 1, xanchor: "right", yref: "y", y: value, yanchor: "bottom", text, showarrow: false, font: { size: 11, color: COLORS.threshold }, bgcolor: "rgba(255,255,255,0.7)" }];
  }

  /** The score chart shows the scale the threshold cuts. */
  const rarityScale = (p) => last?.scale === "rarity" && Array.isArray(p.rarity);

  function mainTraces(p) {
    const x = p.t.map(toX);
    const traces = [];
    if (p.lower && p.upper) {
      traces.push({ type: "scatter", mode: "lines", x, y: p.lower, line: { width: 0 }, hoverinfo: "skip", showlegend: false, name: "band low", legendgroup: "band" });
      traces.push({ type: "scatter", mode: "lines", x, y: p.upper, line: { width: 0 }, fill: "tonexty", fillcolor: COLORS.band, hoverinfo: "skip", name: "expected band", legendgroup: "band" });
    }
    if (p.expected) traces.push({ type: "scatter", mode: "lines", x, y: p.expected, name: "expected", line: { color: COLORS.expected, width: 1.4, dash: "dot" } });
    traces.push({ type: "scatter", mode: "lines", x, y: p.value, name: "actual", line: { color: COLORS.actual, width: 1.3 } });
    const ax = [];
    const ay = [];
    p.flag?.forEach((f, i) => {
      if (f && p.value[i] != null) {
        ax.push(x[i]);
        ay.push(p.value[i]);
      }
    });
    traces.push({ type: "scatter", mode: "markers", x: ax, y: ay, name: "anomaly", marker: { color: COLORS.anomaly, size: 7, line: { color: "#fff", width: 1 } } });
    if (Array.isArray(p.label)) {
      const lx = [];
      const ly = [];
      p.label.forEach((l, i) => {
        if ((l === true || l === 1) && p.value[i] != null) {
          lx.push(x[i]);
          ly.push(p.value[i]);
        }
      });
      if (lx.length) traces.push({ type: "scatter", mode: "markers", x: lx, y: ly, name: "labelled anomaly", marker: { color: COLORS.label, size: 11, symbol: "circle-open", line: { width: 2 } } });
    }
    // A legend entry for the compared run's band (the band itself is shapes).
    if (compareNow) traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: "compared run's events", marker: { color: COLORS.compare, symbol: "square", size: 10 }, hoverinfo: "skip" });
    if (last?.routine?.some((r) => r.peaks?.length)) traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: "routine (set aside)", marker: { color: COLORS.routine, symbol: "square", size: 10 }, hoverinfo: "skip" });
    return traces;
  }

  function scoreTraces(p) {
    const x = p.t.map(toX);
    const rarity = rarityScale(p);
    const scoreName = p.members?.length ? "combined score" : "score";
    // On the rarity scale the raw scores sit on a second axis, shown from the legend.
    const raw = rarity ? { yaxis: "y2", visible: "legendonly" } : {};
    const traces = [];
    if (rarity) {
      traces.push({ type: "scatter", mode: "lines", x, y: p.rarity, name: "rarity", line: { color: COLORS.score, width: 1.4 }, hovertemplate: "rarity %{y:.2f}<extra></extra>" });
    }
    traces.push({ type: "scatter", mode: "lines", x, y: p.score, name: scoreName, line: { color: rarity ? "#94a3b8" : COLORS.score, width: rarity ? 1 : 1.4 }, ...raw });
    (p.members || []).forEach((m, i) => {
      traces.push({ type: "scatter", mode: "lines", x, y: m.score, name: m.name, line: { color: COLORS.members[i % COLORS.members.length], width: 1 }, opacity: 0.8, ...raw });
    });
    const shown = rarity ? p.rarity : p.score;
    const fx = [];
    const fy = [];
    p.flag?.forEach((f, i) => {
      if (f && shown[i] != null) {
        fx.push(x[i]);
        fy.push(shown[i]);
      }
    });
    traces.push({ type: "scatter", mode: "markers", x: fx, y: fy, name: "flagged", showlegend: false, marker: { color: COLORS.anomaly, size: 5 }, hoverinfo: "skip" });
    return traces;
  }

  function draw() {
    if (!last) return Promise.resolve();
    const { points, events, thresholdValue, selected, step, valueLabel, training } = last;
    const mainLayout = baseLayout(330, valueLabel || "value");
    mainLayout.shapes = mainShapes();
    mainLayout.annotations = trainingNote(training);
    const rarity = rarityScale(points);
    const scoreLayout = baseLayout(210, rarity ? "rarity (−log₁₀ p)" : "score");
    if (rarity) {
      scoreLayout.yaxis2 = { title: { text: "raw score", font: { size: 11 } }, overlaying: "y", side: "right", showgrid: false, zeroline: false, fixedrange: true, automargin: true };
    }
    scoreLayout.shapes = [...eventShapes(events, selected, step, false), ...thresholdShape(thresholdValue)];
    scoreLayout.annotations = thresholdNote(thresholdValue);
    return Promise.all([
      window.Plotly.react(main, mainTraces(points), mainLayout, chartConfig()),
      window.Plotly.react(score, scoreTraces(points), scoreLayout, chartConfig()),
    ]).then(() => {
      if (!ready) {
        ready = true;
        main.on("plotly_relayout", (ev) => onRelayout(ev, score));
        score.on("plotly_relayout", (ev) => onRelayout(ev, main));
      }
    });
  }

  function onRelayout(ev, other) {
    if (syncing) return;
    let next;
    if (ev["xaxis.autorange"]) {
      next = null;
    } else if ("xaxis.range[0]" in ev && "xaxis.range[1]" in ev) {
      next = [fromX(ev["xaxis.range[0]"]), fromX(ev["xaxis.range[1]"])];
    } else if (Array.isArray(ev["xaxis.range"])) {
      next = [fromX(ev["xaxis.range"][0]), fromX(ev["xaxis.range"][1])];
    } else {
      return; // y-only or cosmetic change
    }
    if (next && (next[0] == null || next[1] == null)) return;
    range = next;
    syncing = true;
    const update = next ? { "xaxis.range": [toX(next[0]), toX(next[1])], "xaxis.autorange": false } : { "xaxis.autorange": true };
    window.Plotly.relayout(other, update).finally(() => { syncing = false; });
    onRangeChange(range);
  }

  return {
    /** Draws everything. `opts.range` (series units) or null for the full extent. */
    render(points, opts) {
      if (!plotlyReady()) throw new Error("Plotly.js did not load (/assets/plotly.min.js), so charts cannot be drawn.");
      timeAxis = opts.timeAxis || "epoch_millis";
      if ("range" in opts) range = opts.range;
      last = { ...last, ...opts, points };
      return draw();
    },
    /** Updates event shading, the routine ticks (when given) and the threshold line (after a
     * re-threshold or a selection). */
    updateEvents(events, thresholdValue, selected, routine) {
      if (!last || !plotlyReady()) return;
      last = { ...last, events, thresholdValue, selected, ...(routine ? { routine } : {}) };
      const { step } = last;
      syncing = true;
      Promise.all([
        window.Plotly.relayout(main, { shapes: mainShapes() }),
        window.Plotly.relayout(score, { shapes: [...eventShapes(events, selected, step, false), ...thresholdShape(thresholdValue)], annotations: thresholdNote(thresholdValue) }),
      ]).finally(() => { syncing = false; });
    },
    /** Draws the user's marks along the top of the main chart. */
    setMarks(marks) {
      marksNow = marks || [];
      if (last && ready && plotlyReady()) {
        syncing = true;
        window.Plotly.relayout(main, { shapes: mainShapes() }).finally(() => { syncing = false; });
      }
    },
    /** Draws another run's events along the bottom of the main chart ({events, label}), or
     * removes them (null). */
    setCompare(compare) {
      if (!compare && !compareNow) return;
      compareNow = compare;
      if (last && ready && plotlyReady()) draw();
    },
    /** Zooms both charts to [from, to] and reports the new range. */
    zoomTo(next) {
      range = next;
      if (last && plotlyReady()) {
        const update = { "xaxis.range": [toX(next[0]), toX(next[1])], "xaxis.autorange": false };
        syncing = true;
        Promise.all([window.Plotly.relayout(main, update), window.Plotly.relayout(score, update)]).finally(() => { syncing = false; });
      }
      onRangeChange(range);
    },
    range: () => range,
    purge() {
      if (plotlyReady()) {
        window.Plotly.purge(main);
        window.Plotly.purge(score);
      }
      ready = false;
      last = null;
      range = null;
      marksNow = [];
      compareNow = null;
    },
    resize() {
      if (last && plotlyReady()) {
        window.Plotly.Plots.resize(main);
        window.Plotly.Plots.resize(score);
      }
    },
  };
}

/**
 * Finds first-digit frequencies anywhere in a run report (the benford detector's own report, or an
 * ensemble member's). Returns {observed[9], expected[9], n, stats{}, message, applicable} or null.
 */
export function findBenford(report) {
  const seen = new Set();
  let found = null;
  const BENFORD = Array.from({ length: 9 }, (_, i) => Math.log10(1 + 1 / (i + 1)));
  const nums = (v) => Array.isArray(v) && v.every((x) => typeof x === "number");
  const digits9 = (v) => {
    if (nums(v) && v.length === 9) return v;
    if (nums(v) && v.length === 10) return v.slice(1);
    if (v && typeof v === "object" && !Array.isArray(v) && ["1", "9"].every((k) => typeof v[k] === "number")) {
      return Array.from({ length: 9 }, (_, i) => v[String(i + 1)] ?? 0);
    }
    return null;
  };
  // Proportions first; counts are normalised. (tsad's benford report: observed_proportions,
  // observed_counts, expected_proportions, total_digits, applicability{...}.)
  const OBSERVED = ["observed_proportions", "observed", "observed_freq", "observed_frequencies", "proportions", "frequencies", "observed_counts", "counts", "digit_counts"];
  const EXPECTED = ["expected_proportions", "expected", "expected_freq", "benford"];
  const visit = (node, parent, depth) => {
    if (found || !node || typeof node !== "object" || seen.has(node) || depth > 6) return;
    seen.add(node);
    const obsKey = OBSERVED.find((k) => digits9(node[k]));
    if (obsKey) {
      let observed = digits9(node[obsKey]);
      const sum = observed.reduce((a, b) => a + b, 0);
      if (sum > 1.5) observed = observed.map((c) => c / sum);
      const expKey = EXPECTED.find((k) => digits9(node[k]));
      const n = [node.total_digits, node.n, node.count, sum > 1.5 ? sum : null].find((x) => typeof x === "number");
      found = { observed, expected: expKey ? digits9(node[expKey]) : BENFORD, n, holder: node, parent };
      return;
    }
    for (const value of Object.values(node)) visit(value, node, depth + 1);
  };
  visit(report, null, 0);
  if (!found) return null;
  const { holder, parent } = found;
  // Statistics sit next to the digits; the verdict may be a nested object or one level up.
  const scopes = [holder];
  for (const key of ["applicability", "applicable"]) if (holder[key] && typeof holder[key] === "object") scopes.push(holder[key]);
  if (parent && !Array.isArray(parent)) scopes.push(parent);
  const pick = (keys) => {
    for (const s of scopes) for (const k of keys) if (s[k] != null && typeof s[k] !== "object") return s[k];
    return null;
  };
  const stats = {};
  const add = (label, keys) => {
    const v = pick(keys);
    if (v != null) stats[label] = v;
  };
  add("χ²", ["chi_square", "chi2", "chisq", "chi_squared"]);
  add("p-value", ["p_value", "pvalue"]);
  add("MAD", ["mad", "nigrini_mad"]);
  add("conformity", ["conformity", "verdict", "nigrini_conformity"]);
  add("orders of magnitude", ["orders_of_magnitude", "magnitude_span", "decades"]);
  const worst = holder.most_deviant_window && typeof holder.most_deviant_window === "object" ? holder.most_deviant_window : null;
  return {
    observed: found.observed,
    expected: found.expected,
    n: found.n,
    stats,
    applicable: pick(["applicable", "is_applicable", "law_applies"]),
    message: pick(["message", "applicability_message", "note", "warning", "reason"]) ?? (typeof holder.applicability === "string" ? holder.applicability : null),
    worst,
  };
}

export function renderBenford(node, benford) {
  if (!plotlyReady()) return;
  const digits = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
  const traces = [
    { type: "bar", x: digits, y: benford.observed, name: "observed", marker: { color: "#1f3a5f" }, hovertemplate: "digit %{x}: %{y:.1%}<extra>observed</extra>" },
    { type: "bar", x: digits, y: benford.expected, name: "Benford log10(1+1/d)", marker: { color: "#c3c9d3" }, hovertemplate: "digit %{x}: %{y:.1%}<extra>expected</extra>" },
  ];
  const layout = {
    height: 240, barmode: "group", bargap: 0.25, font: FONT,
    margin: { l: 56, r: 16, t: 8, b: 36 },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
    xaxis: { title: { text: "first significant digit", font: { size: 11 } }, fixedrange: true },
    yaxis: { tickformat: ".0%", gridcolor: "#eef0f3", fixedrange: true },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
  };
  window.Plotly.react(node, traces, layout, { ...CONFIG, displayModeBar: false });
}
