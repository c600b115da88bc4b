// The results section of a finished run: summary, linked charts that refetch points for the
// visible range, live re-thresholding, the events table, the Benford digits and the report.

import { api } from "./api.js";
import { createCharts, findBenford, renderBenford } from "./charts.js";
import { renderEvents, selectEvent, clearEvents } from "./events.js";
import { setChatRun, setChatEvent, explainEvent } from "./chat.js";
import { $, el, show, debounce, fmtInt, fmtNum, fmtSeconds, specLabel, thresholdLabel, humanize } from "./util.js";

let ctx = null;
let charts = null;
let view = null; // {run, events, thresholdValue, threshold, anomalyCount, timeAxis, step, selected}
let pointsSeq = 0;
let pointsAbort = null;
let thresholdSeq = 0;

/** ctx: {onError(err, context), onThresholdChanged(run)} */
export function initResults(context) {
  ctx = context;
  charts = createCharts({
    main: $("chart-main"),
    score: $("chart-score"),
    onRangeChange: debounce((range) => loadPoints(range), 180),
  });
  const slider = $("sensitivity-slider");
  const applySensitivity = debounce((s) => rethreshold({ method: "sensitivity", s }), 250);
  slider.addEventListener("input", () => {
    $("sensitivity-out").value = Number(slider.value).toFixed(2);
    markActive("sensitivity");
    applySensitivity(Number(slider.value));
  });
  const k = $("k-input");
  const applyK = debounce(() => {
    const v = Number(k.value);
    if (k.value.trim() === "" || !Number.isFinite(v) || v < 0) {
      k.setAttribute("aria-invalid", "true");
      return;
    }
    k.setAttribute("aria-invalid", "false");
    rethreshold({ method: "sigma", k: v });
  }, 400);
  k.addEventListener("input", () => {
    markActive("sigma");
    applyK();
  });
  window.addEventListener("resize", debounce(() => charts.resize(), 150));
}

export function currentView() {
  return view;
}

export function hideResults() {
  view = null;
  delete document.body.dataset.chartsReady;
  pointsAbort?.abort();
  charts?.purge();
  clearEvents();
  show($("results"), false);
}

/** Renders a succeeded run. */
export async function showResults(run) {
  const summary = run.summary || {};
  const sameRun = view?.run.id === run.id;
  if (!sameRun) charts.purge();
  view = {
    run,
    events: run.events || [],
    threshold: run.threshold,
    thresholdValue: summary.threshold_value,
    anomalyCount: summary.anomaly_count,
    timeAxis: summary.time_axis || guessTimeAxis(summary),
    step: summary.step_ms || (summary.time_axis === "index" ? 1 : null),
    selected: null,
  };
  show($("results"), true);
  $("download-csv").href = api.downloadUrl(run.id, "csv");
  $("download-json").href = api.downloadUrl(run.id, "json");
  $("download-csv").setAttribute("download", `${run.id}.csv`);
  $("download-json").setAttribute("download", `${run.id}.json`);
  setThresholdControls(run.threshold);
  renderSummary();
  renderEvents(view.events, {
    timeAxis: view.timeAxis,
    stepMs: view.timeAxis === "epoch_millis" ? view.step : null,
    onSelect: selectAndZoom,
    onExplain: (n) => explainEvent(n),
  });
  setChatRun(run, view.timeAxis);
  renderBenfordBlock(run.report);
  renderReport(run.report);
  await loadPoints(null);
}

// Older or partial summaries may lack time_axis: Unix ms are 1e11+ for any date after 1973.
function guessTimeAxis(summary) {
  const start = summary.start ?? summary.end;
  return start != null && Math.abs(start) < 1e11 ? "index" : "epoch_millis";
}

function renderSummary() {
  const { run, events, anomalyCount, threshold, thresholdValue } = view;
  const s = run.summary || {};
  const count = anomalyCount ?? events.reduce((a, e) => a + (e.flagged || 0), 0);
  $("event-count").textContent = `${fmtInt(count)} anomalous point${count === 1 ? "" : "s"} in ${fmtInt(events.length)} event${events.length === 1 ? "" : "s"}`;
  const meta = [
    specLabel(run),
    `${fmtInt(s.points)} points`,
    s.fit_seconds != null ? `fit ${fmtSeconds(s.fit_seconds)}` : null,
  ].filter(Boolean).join(" · ");
  $("result-meta").textContent = `· ${meta}`;
  $("threshold-now").textContent = `Now: ${thresholdLabel(threshold)} → cut-off ${fmtNum(thresholdValue)}`;
}

function markActive(method) {
  $("sensitivity-slider").closest(".field").classList.toggle("active", method === "sensitivity");
  $("k-input").closest(".field").classList.toggle("active", method === "sigma");
}

function setThresholdControls(t) {
  const slider = $("sensitivity-slider");
  if (t?.method === "sensitivity" && Number.isFinite(t.s)) slider.value = t.s;
  $("sensitivity-out").value = Number(slider.value).toFixed(2);
  if (t?.method === "sigma" && Number.isFinite(t.k)) $("k-input").value = t.k;
  markActive(t?.method);
}

/** Re-thresholds the stored scores (no new run) and updates markers, shading, table and count. */
async function rethreshold(threshold) {
  if (!view) return;
  const seq = ++thresholdSeq;
  const runId = view.run.id;
  $("threshold-now").textContent = `Applying ${thresholdLabel(threshold)}…`;
  try {
    const out = await api.threshold(runId, threshold);
    if (seq !== thresholdSeq || view?.run.id !== runId) return;
    view.events = out.events || [];
    view.threshold = out.threshold || threshold;
    view.thresholdValue = out.threshold_value;
    view.anomalyCount = out.anomaly_count;
    view.selected = null;
    view.run = { ...view.run, threshold: view.threshold, events: view.events, summary: { ...view.run.summary, threshold_value: out.threshold_value, anomaly_count: out.anomaly_count, event_count: view.events.length } };
    renderSummary();
    renderEvents(view.events, {});
    setChatEvent(null);
    charts.updateEvents(view.events, view.thresholdValue, null);
    await loadPoints(charts.range());
    ctx.onThresholdChanged?.(view.run);
  } catch (err) {
    if (seq !== thresholdSeq) return;
    renderSummary();
    ctx.onError(err, "Could not apply the threshold");
  }
}

function maxPoints() {
  const width = $("chart-main").clientWidth || 1000;
  return Math.max(400, Math.min(5000, Math.round(width * 2)));
}

/** Fetches the points of a range (null = all) and redraws; stale responses are dropped. */
async function loadPoints(range) {
  if (!view) return;
  const seq = ++pointsSeq;
  pointsAbort?.abort();
  const abort = new AbortController();
  pointsAbort = abort;
  const runId = view.run.id;
  let from = null;
  let to = null;
  if (range) {
    // Fetch a little beyond the edges so a short pan shows data before the next fetch lands.
    const span = range[1] - range[0];
    from = range[0] - span * 0.1;
    to = range[1] + span * 0.1;
  }
  try {
    const pts = await api.points(runId, { from, to, maxPoints: maxPoints(), signal: abort.signal });
    if (seq !== pointsSeq || view?.run.id !== runId) return;
    if (pts.threshold_value != null) view.thresholdValue = pts.threshold_value;
    if (pts.time_axis && pts.time_axis !== view.timeAxis) {
      view.timeAxis = pts.time_axis;
      renderEvents(view.events, { timeAxis: view.timeAxis, stepMs: view.timeAxis === "epoch_millis" ? view.step : null });
      setChatRun(view.run, view.timeAxis);
    }
    await charts.render(pts, {
      timeAxis: view.timeAxis,
      events: view.events,
      thresholdValue: view.thresholdValue,
      selected: view.selected,
      step: view.step,
      range,
      valueLabel: view.run.value_column || "value",
    });
    const total = pts.total ?? pts.t.length;
    $("points-note").textContent = pts.downsampled
      ? `Showing ${fmtInt(pts.returned ?? pts.t.length)} of ${fmtInt(total)} points (downsampled on the server).`
      : `${fmtInt(pts.t.length)} point${pts.t.length === 1 ? "" : "s"} in view.`;
    document.body.dataset.chartsReady = "true";
  } catch (err) {
    if (err.name === "AbortError" || seq !== pointsSeq) return;
    ctx.onError(err, "Could not load the points");
  }
}

function selectAndZoom(n) {
  if (!view) return;
  const e = view.events[n];
  if (!e) return;
  view.selected = n;
  selectEvent(n);
  setChatEvent(n);
  const s = view.run.summary || {};
  const step = view.step || 1;
  const width = Math.max(e.end_time - e.start_time, step);
  const context = Math.max(width * 3, step * 30);
  let from = e.start_time - context;
  let to = e.end_time + context;
  if (s.start != null) from = Math.max(from, s.start);
  if (s.end != null) to = Math.min(to, s.end);
  charts.updateEvents(view.events, view.thresholdValue, n);
  charts.zoomTo([from, to]);
}

function renderBenfordBlock(report) {
  const found = report ? findBenford(report) : null;
  show($("benford-block"), Boolean(found));
  if (!found) return;
  const notes = [];
  if (found.applicable === false || found.message) {
    notes.push(el("strong", { class: found.applicable === false ? "warn-text" : "" },
      capitalize(found.message || "Benford's law does not apply well to this series.")));
  }
  const stats = Object.entries(found.stats).map(([k, v]) => `${k} ${typeof v === "number" ? fmtNum(v) : v}`);
  if (found.n != null) stats.unshift(`${fmtInt(found.n)} values`);
  if (stats.length) notes.push(el("span", { class: "muted" }, ` Whole series: ${stats.join(" · ")}.`));
  const w = found.worst;
  if (w && w.start != null && w.end != null) {
    const bits = [w.mad != null ? `MAD ${fmtNum(w.mad)}` : null, w.conformity, w.p_value != null ? `p ${fmtNum(w.p_value)}` : null].filter(Boolean);
    notes.push(el("span", { class: "muted" }, ` Most deviant window: points ${fmtInt(w.start + 1)}–${fmtInt(w.end + 1)}${bits.length ? ` (${bits.join(", ")})` : ""}.`));
  }
  $("benford-note").replaceChildren(...notes);
  renderBenford($("chart-benford"), found);
}

/** A compact key/value view of the detector's report: scalars, short lists, series summarised. */
function renderReport(report) {
  const list = $("report-list");
  const rows = [];
  const walk = (node, path, depth) => {
    if (rows.length >= 40 || node == null) return;
    if (Array.isArray(node)) {
      if (node.every((x) => typeof x === "number" || x == null)) {
        const nums = node.filter((x) => x != null);
        if (node.length <= 10) rows.push([path, node.map((x) => fmtNum(x)).join(", ")]);
        else if (nums.length) rows.push([path, `${fmtNum(nums[0])} → ${fmtNum(nums[nums.length - 1])} (${node.length} values)`]);
      } else if (depth < 3) {
        node.slice(0, 8).forEach((item, i) => {
          const name = item && typeof item === "object" && (item.name || item.kind);
          walk(item && typeof item === "object" && "report" in item ? item.report : item, `${path} ${name || i + 1}`.trim(), depth + 1);
        });
      }
      return;
    }
    if (typeof node === "object") {
      if (depth >= 4) return;
      for (const [k, v] of Object.entries(node)) walk(v, path ? `${path} › ${humanize(k).toLowerCase()}` : humanize(k), depth + 1);
      return;
    }
    rows.push([path, typeof node === "number" ? fmtNum(node) : typeof node === "boolean" ? (node ? "yes" : "no") : String(node)]);
  };
  walk(report, "", 0);
  show($("report-block"), rows.length > 0);
  list.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k || "value"), el("dd", {}, v)]));
}

function capitalize(text) {
  const s = String(text);
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}

export function eventAt(n) {
  return view?.events?.[n] ?? null;
}
