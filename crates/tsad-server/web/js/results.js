// The results section of a finished run: summary, linked charts that refetch points for the
// visible range, live re-thresholding (the rule always in words), the events table (most severe
// first), the Benford digits and the report.

import { api } from "./api.js";
import { createCharts, findBenford, renderBenford } from "./charts.js";
import { renderEvents, selectEvent, clearEvents } from "./events.js";
import { setChatRun, setChatEvent, explainEvent } from "./chat.js";
import { initCompare, offerComparison, refreshComparison, hideComparison } from "./compare.js";
import {
  $, el, show, debounce, fmtInt, fmtNum, fmtSeconds, fmtTime, specLabel, thresholdLabel, humanize,
  ruleWords, everyOf, everyFromSensitivity, sensitivityFromEvery, fmtEvery, fmtSpan,
} from "./util.js";

let ctx = null;
let charts = null;
// {run, events (most severe first), thresholdValue, threshold, rule, scale, anomalyCount,
//  timeAxis, step, selected, training}
let view = null;
const RAW_PARAM = {
  sigma: { key: "k", label: "k", min: 0, step: 0.1, def: 3 },
  robust: { key: "k", label: "k", min: 0, step: 0.1, def: 5 },
  quantile: { key: "q", label: "q", min: 0.5, step: 0.001, def: 0.99 },
};
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
  // The slider is s in 0.01..0.99: about 1 false alarm per 10^(1 + 8(1 - s)) points, so it
  // moves over `every` on a log scale (10^1 to 10^9); right = more alarms.
  const slider = $("sensitivity-slider");
  // While the slider moves: a preview of the event count (nothing stored); on release the
  // threshold is applied (charts, table and the run's stored threshold follow).
  const applySensitivity = debounce((s) => rethreshold({ method: "sensitivity", s }), 250);
  const previewSensitivity = debounce((s) => previewThreshold({ method: "sensitivity", s }), 120);
  slider.addEventListener("input", () => {
    sliderWords();
    previewSensitivity(Number(slider.value));
  });
  slider.addEventListener("change", () => applySensitivity(Number(slider.value)));
  // Standouts (events just below the line that stand out of the series) on or off: the same
  // threshold again with the run's event options but `standout` changed.
  $("standout-toggle").addEventListener("change", () => rethreshold({ method: "sensitivity", s: Number(slider.value) }));
  // Routine events (recurring at one time of the hour, day or week) flagged or set aside: the
  // threshold in force again with `routine` changed.
  $("routine-toggle").addEventListener("change", () => rethreshold(view?.threshold ?? { method: "sensitivity", s: Number(slider.value) }));
  const k = $("k-input");
  const applyK = debounce(() => {
    const method = $("rethreshold-method").value;
    const meta = RAW_PARAM[method];
    const v = Number(k.value);
    const bad = k.value.trim() === "" || !Number.isFinite(v) || v < 0 || (method === "quantile" && !(v > 0 && v < 1));
    k.setAttribute("aria-invalid", bad ? "true" : "false");
    if (!bad && meta) rethreshold({ method, [meta.key]: v });
  }, 400);
  k.addEventListener("input", applyK);
  $("rethreshold-method").addEventListener("change", () => {
    const method = $("rethreshold-method").value;
    showMethod(method);
    if (method === "auto") applySensitivity(Number(slider.value));
    else {
      const meta = RAW_PARAM[method];
      k.value = String(meta.def);
      applyK();
    }
  });
  window.addEventListener("resize", debounce(() => charts.resize(), 150));
  initCompare({
    charts,
    ownEvents: () => {
      const byIndex = [];
      for (const e of view?.events || []) byIndex[e.index] = e;
      return byIndex;
    },
    timeAxis: () => view?.timeAxis,
    zoomToOwn: (index) => selectAndZoom(view ? view.events.findIndex((e) => e.index === index) : -1),
    zoomToSpan: (start, end) => zoomAround(start, end),
    onError: (err, what) => ctx.onError(err, what),
  });
  $("mark-missed").addEventListener("click", () => markMissed());
}

export function currentView() {
  return view;
}

export function hideResults() {
  view = null;
  delete document.body.dataset.chartsReady;
  pointsAbort?.abort();
  charts?.purge();
  hideComparison();
  clearEvents();
  show($("results"), false);
}

/** Renders a succeeded run. */
export async function showResults(run) {
  const summary = run.summary || {};
  const sameRun = view?.run.id === run.id;
  if (!sameRun) charts.purge();
  const timeAxis = summary.time_axis || guessTimeAxis(summary);
  view = {
    run,
    events: byRank(run.events || []),
    threshold: run.threshold,
    rule: run.threshold_rule || summary.threshold_rule || null,
    scale: run.scale || summary.scale || "raw",
    thresholdValue: summary.threshold_value,
    anomalyCount: summary.anomaly_count,
    timeAxis,
    step: summary.step_ms || (timeAxis === "index" ? 1 : null),
    selected: null,
    training: trainingSpan(run.training),
  };
  show($("results"), true);
  $("download-csv").href = api.downloadUrl(run.id, "csv");
  $("download-json").href = api.downloadUrl(run.id, "json");
  $("download-csv").setAttribute("download", `${run.id}.csv`);
  $("download-json").setAttribute("download", `${run.id}.json`);
  setThresholdControls(run.threshold, run.events_options);
  renderSummary();
  renderTraining(run);
  view.marks = [];
  renderEvents(view.events, {
    series: run.series || null,
    markOf,
    onMark: (n, verdict, comment) => markEvent(n, verdict, comment),
    timeAxis: view.timeAxis,
    stepMs: view.timeAxis === "epoch_millis" ? view.step : null,
    onSelect: selectAndZoom,
    onExplain: (n) => explainEvent(n),
    quiet: summary.quiet ?? null,
    onReach: reachSensitivity,
  });
  setChatRun(run, view.timeAxis);
  renderBenfordBlock(run.report);
  renderReport(run.report);
  loadMarks();
  if (!sameRun) offerComparison(run);
  await loadPoints(null);
}

// ---- triage: the user's marks ----------------------------------------------------------------

/** The mark on an event: one made on exactly its stretch, else any verdict overlapping it. */
function markOf(e) {
  const marks = (view?.marks || []).filter((m) => m.verdict !== "missed");
  return marks.find((m) => m.start_time === e.start_time && m.end_time === e.end_time)
    || marks.find((m) => m.start_time <= e.end_time && e.start_time <= m.end_time) || null;
}

async function loadMarks() {
  if (!view) return;
  const runId = view.run.id;
  try {
    const out = await api.runMarks(runId);
    if (view?.run.id !== runId) return;
    view.marks = out.marks || [];
    view.marksReport = out.report || null;
  } catch (err) {
    ctx.onError(err, "Could not load your marks");
    return;
  }
  renderMarks();
  renderEvents(view.events, {});
  charts.setMarks(view.marks);
}

function renderMarks() {
  const r = view.marksReport;
  const pct = (x) => (x == null ? "–" : x.toFixed(2));
  $("marks-report").textContent = !r || (!r.judged && !r.marked_anomalies)
    ? "Mark events as confirmed or false alarms (and stretches the run missed) to see how it does by your judgement."
    : `By your marks: precision ${pct(r.precision)} (${r.true_positives} of ${r.judged} judged events confirmed), `
      + `recall ${pct(r.recall)} (${r.found} of ${r.marked_anomalies} marked anomalies found).`;
  const missed = view.marks.filter((m) => m.verdict === "missed");
  $("marks-list").replaceChildren(...missed.map((m) => el("li", { "data-testid": "missed-mark", "data-id": m.id },
    `Missed: ${fmtTime(m.start_time, view.timeAxis)} – ${fmtTime(m.end_time, view.timeAxis)}${m.comment ? ` (${m.comment})` : ""} `,
    el("button", {
      type: "button", class: "link-button", "data-testid": "mark-remove", "aria-label": "Remove this mark",
      onclick: () => api.deleteMark(m.id).then(loadMarks).catch((err) => ctx.onError(err, "Could not remove the mark")),
    }, "remove"))));
}

async function markEvent(n, verdict, comment) {
  const e = view?.events[n];
  if (!e) return;
  const mark = markOf(e);
  try {
    if (!verdict && mark) await api.deleteMark(mark.id);
    else if (mark) await api.updateMark(mark.id, { verdict, comment });
    else if (verdict) await api.createMark(view.run.id, { start_time: e.start_time, end_time: e.end_time, verdict, comment });
  } catch (err) {
    ctx.onError(err, "Could not save your mark");
  }
  await loadMarks();
}

async function markMissed() {
  if (!view) return;
  const range = charts.range();
  if (!range) {
    ctx.onError(new Error("Zoom the chart to the stretch the run missed first (drag across it), then mark it."));
    return;
  }
  const [from, to] = range.map(Math.round);
  try {
    await api.createMark(view.run.id, { start_time: from, end_time: to, verdict: "missed", comment: "" });
  } catch (err) {
    ctx.onError(err, "Could not save the mark");
  }
  await loadMarks();
}

/** Events most severe first (rank 1 first); events without ranks keep their order. */
function byRank(events) {
  return events.map((e, i) => ({ index: i, ...e })).sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.index - b.index);
}

/** The shaded training part: the first rows of the scored series (prefix runs only). */
function trainingSpan(t) {
  return t && t.source === "prefix" && t.start != null && t.end != null ? { start: t.start, end: t.end } : null;
}

/** Milliseconds per point when the series has timestamps, else null. */
function stepMs() {
  return view?.timeAxis === "epoch_millis" ? view.step : null;
}

/** What the run fitted on, in words, with a link to a saved model's file. */
function renderTraining(run) {
  const t = run.training;
  const node = $("training-note");
  if (!t) {
    node.replaceChildren();
    return;
  }
  const rows = t.rows != null ? `${fmtInt(t.rows)} rows` : null;
  let text;
  switch (t.source) {
    case "prefix": {
      const span = view.timeAxis === "epoch_millis" && t.start != null && t.end != null ? fmtSpan(t.end - t.start + (view.step || 0)) : null;
      text = `Fitted on the first ${fmtInt(t.prefix_rows ?? t.rows)} rows${span ? ` (${span})` : ""}${t.until != null ? `, up to ${t.until}` : ""} (shaded)`;
      break;
    }
    case "dataset": text = `Fitted on another dataset${rows ? ` (${rows})` : ""}`; break;
    case "model": text = `Scored with the saved model ${t.model_id}${rows ? `, fitted on ${rows}` : ""}`; break;
    default: text = `Fitted on the whole series${rows ? ` (${rows})` : ""}`;
  }
  const parts = [`· ${text}.`];
  if (t.junction_rows) {
    // Both parts count rows (no time column): the engine scored the first rows both ways.
    parts.push(` Both count rows, so nothing says this series follows the training data: its first ${fmtInt(t.junction_rows)} rows were also scored on their own and keep the lower score (none inside the detector's warm-up, where they cannot be scored alone).`);
  }
  if (t.saved_model_id) {
    parts.push(" ", el("a", { id: "model-download", "data-testid": "model-download", href: api.modelDownloadUrl(t.saved_model_id), download: `${t.saved_model_id}.json` }, "Download the fitted model"));
  } else if (t.model_error) {
    parts.push(" ", el("span", { class: "warn-text" }, t.model_error));
  }
  node.replaceChildren(...parts);
}

// Older or partial summaries may lack time_axis: Unix ms are 1e11+ for any date after 1973.
function guessTimeAxis(summary) {
  const start = summary.start ?? summary.end;
  return start != null && Math.abs(start) < 1e11 ? "index" : "epoch_millis";
}

function renderSummary() {
  const { run, events, anomalyCount } = view;
  const s = run.summary || {};
  const count = anomalyCount ?? events.reduce((a, e) => a + (e.flagged || 0), 0);
  $("event-count").textContent = `${fmtInt(count)} anomalous point${count === 1 ? "" : "s"} in ${fmtInt(events.length)} event${events.length === 1 ? "" : "s"}`;
  const meta = [
    run.label || specLabel(run),
    `${fmtInt(s.points)} points`,
    s.fit_seconds != null ? `fit ${fmtSeconds(s.fit_seconds)}` : null,
  ].filter(Boolean).join(" · ");
  $("result-meta").textContent = `· ${meta}`;
  const notes = reportNotes(run.report);
  $("result-notes").textContent = notes.map((n) => `Note: ${capitalize(n)}`).join(" ");
  show($("result-notes"), notes.length > 0);
  const routine = Array.isArray(s.routine) ? s.routine : [];
  $("routine-note").textContent = routine.length
    ? `Set aside as the series' routine, not alarms: ${routine.map((r) => r.summary).join("; ")}. Tick "flag routine" to list them.`
    : "";
  show($("routine-note"), routine.length > 0);
  renderRule();
}

/** The detector's notes (`note` in its report, an ensemble member's prefixed with its name):
 * what it did differently, such as seasonal falling back when it finds no period. */
function reportNotes(report) {
  const notes = [];
  const visit = (node, who, depth) => {
    if (!node || typeof node !== "object" || depth > 3) return;
    if (typeof node.note === "string" && node.note) notes.push(who ? `${who}: ${node.note}` : node.note);
    for (const member of Array.isArray(node.members) ? node.members : []) {
      if (member && typeof member === "object") visit(member.report ?? member, member.name || member.kind || who, depth + 1);
    }
  };
  visit(report, "", 0);
  return notes;
}

/** "Now: sensitivity 0.6: about 1 false alarm per 16,000 points of normal data (about 1 per
 * 1.8 years at this series' step) → cut-off rarity 4.2". Always the rule in words. */
function renderRule() {
  const { threshold, thresholdValue, scale, rule } = view;
  const words = ruleWords(threshold, stepMs(), rule);
  const cut = thresholdValue == null ? "no point reaches it" : `cut-off ${scale === "rarity" ? "rarity " : ""}${fmtNum(thresholdValue)}`;
  $("threshold-now").textContent = `Now: ${thresholdLabel(threshold)}: ${words} → ${cut}`;
}

/** The slider's position in words: "1 per 100,000 points (≈ 11 years)". */
function sliderWords() {
  const slider = $("sensitivity-slider");
  const every = everyFromSensitivity(Number(slider.value));
  const span = view && stepMs() ? fmtSpan(every * stepMs()) : null;
  const text = `1 per ${fmtEvery(every)} points${span ? ` (≈ ${span})` : ""}`;
  $("sensitivity-out").value = text;
  slider.setAttribute("aria-valuetext", `about 1 false alarm per ${fmtEvery(every)} points`);
}

function showMethod(method) {
  const auto = method === "auto";
  show($("slider-field"), auto);
  show($("k-field"), !auto);
  const meta = RAW_PARAM[method];
  if (meta) {
    const k = $("k-input");
    $("k-label").textContent = meta.label;
    k.min = String(meta.min);
    k.step = String(meta.step);
    if (method === "quantile") k.max = "0.99999";
    else k.removeAttribute("max");
  }
}

/** The run's event options with `standout` and `routine` as the checkboxes say. */
/** Moves the slider to s (the auto rule) and re-thresholds: the empty table's button. */
function reachSensitivity(s) {
  $("rethreshold-method").value = "auto";
  showMethod("auto");
  $("sensitivity-slider").value = String(s);
  sliderWords();
  rethreshold({ method: "sensitivity", s });
}

function eventOptions() {
  return {
    ...(view?.run.events_options || {}),
    standout: $("standout-toggle").checked,
    routine: !$("routine-toggle").checked,
  };
}

function setThresholdControls(t, events) {
  $("standout-toggle").checked = events?.standout !== false;
  $("routine-toggle").checked = events?.routine === false;
  const slider = $("sensitivity-slider");
  const every = everyOf(t);
  const method = every != null ? "auto" : RAW_PARAM[t?.method] ? t.method : "auto";
  $("rethreshold-method").value = method;
  if (every != null) slider.value = String(sensitivityFromEvery(every));
  const meta = RAW_PARAM[method];
  if (meta && Number.isFinite(t?.[meta.key])) $("k-input").value = String(t[meta.key]);
  showMethod(method);
  sliderWords();
}

let previewSeq = 0;

/** Says how many events a threshold would give, beside the slider, without applying it. */
async function previewThreshold(threshold) {
  if (!view) return;
  const seq = ++previewSeq;
  const out = $("threshold-preview");
  out.textContent = "→ counting…";
  try {
    const p = await api.previewThreshold(view.run.id, threshold, eventOptions());
    if (seq !== previewSeq) return;
    const n = p.event_count ?? 0;
    out.textContent = `→ ${fmtInt(n)} event${n === 1 ? "" : "s"}`;
    out.dataset.events = String(n);
  } catch {
    if (seq === previewSeq) out.textContent = "";
  }
}

/** Re-thresholds the stored scores (no new run) and updates markers, shading, table and count. */
async function rethreshold(threshold) {
  if (!view) return;
  const seq = ++thresholdSeq;
  previewSeq++;
  const runId = view.run.id;
  $("threshold-now").textContent = `Applying ${thresholdLabel(threshold)}…`;
  try {
    const out = await api.threshold(runId, threshold, eventOptions());
    if (seq !== thresholdSeq || view?.run.id !== runId) return;
    view.events = byRank(out.events || []);
    view.threshold = out.threshold || threshold;
    view.thresholdValue = out.threshold_value;
    view.anomalyCount = out.anomaly_count;
    view.rule = out.threshold_rule || null;
    view.scale = out.scale || view.scale;
    view.selected = null;
    view.run = { ...view.run, events_options: out.events_options ?? view.run.events_options, threshold: view.threshold, threshold_rule: view.rule, scale: view.scale, summary: { ...view.run.summary, threshold_value: out.threshold_value, anomaly_count: out.anomaly_count, event_count: out.event_count ?? view.events.length, threshold_rule: view.rule, scale: view.scale, routine: out.routine ?? [], quiet: out.quiet ?? null } };
    renderSummary();
    renderEvents(view.events, { quiet: out.quiet ?? null });
    loadMarks();
    refreshComparison();
    setChatEvent(null);
    charts.updateEvents(view.events, view.thresholdValue, null, view.run.summary?.routine ?? []);
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
      scale: pts.scale || view.scale,
      training: view.training,
      events: view.events,
      thresholdValue: view.thresholdValue,
      selected: view.selected,
      step: view.step,
      routine: view.run.summary?.routine ?? [],
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
  charts.updateEvents(view.events, view.thresholdValue, n);
  zoomAround(e.start_time, e.end_time);
}

/** Zooms to a stretch with some context on each side (three widths, at least 30 steps). */
function zoomAround(start, end) {
  if (!view) return;
  const s = view.run.summary || {};
  const step = view.step || 1;
  const width = Math.max(end - start, step);
  const context = Math.max(width * 3, step * 30);
  let from = start - context;
  let to = end + context;
  if (s.start != null) from = Math.max(from, s.start);
  if (s.end != null) to = Math.min(to, s.end);
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
