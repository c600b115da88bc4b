// Two runs side by side: the open run against another succeeded run on the same data. Says which
// settings differ and which events only one of them found (events overlapping in time are the
// same anomaly), and draws the other run's events on the chart as a band along the bottom.

import { api } from "./api.js";
import { $, el, show, fmtInt, fmtTime } from "./util.js";

/** Items listed per "only in" list before "and N more". */
const LIST_MAX = 8;

// {charts, ownEvents() (time order), timeAxis(), zoomToOwn(index), zoomToSpan(start, end),
//  onError(err, context)}
let ctx = null;
// {runId, otherId, data}: the comparison on show.
let current = null;
let seq = 0;

export function initCompare(context) {
  ctx = context;
  $("compare-with").addEventListener("change", () => {
    if (current) current.otherId = $("compare-with").value || null;
    hashCompare(current?.otherId);
    loadComparison();
  });
}

/** Keeps the compared run in the URL hash (`&compare=<id>`), so a reload or a shared link
 * shows the comparison again. */
function hashCompare(id) {
  const q = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (id) q.set("compare", id);
  else q.delete("compare");
  const next = q.toString() ? `#${q}` : "";
  if (location.hash !== next) history.replaceState(null, "", next || location.pathname);
}

/** Offers the other succeeded runs on the open run's dataset; one series of a many-series run
 * has none to offer (its siblings are other series). */
export async function offerComparison(run) {
  const mine = ++seq;
  current = { runId: run.id, otherId: null, data: null };
  renderComparison();
  const box = $("compare-box");
  if (run.parent_id) {
    show(box, false);
    return;
  }
  let runs = [];
  try {
    runs = (await api.listRuns(run.dataset_id)).runs || [];
  } catch {
    runs = [];
  }
  if (mine !== seq) return;
  const others = runs.filter((r) => r.id !== run.id && r.status === "succeeded" && !r.fleet);
  show(box, others.length > 0);
  const select = $("compare-with");
  select.replaceChildren(
    el("option", { value: "" }, "no other run"),
    ...others.map((r) => el("option", { value: r.id }, r.name ? `${r.name} (${r.label})` : r.label)),
  );
  // The comparison named in the URL (a reload, a shared link).
  const asked = new URLSearchParams(location.hash.replace(/^#/, "")).get("compare");
  if (asked && others.some((r) => r.id === asked)) {
    select.value = asked;
    current.otherId = asked;
    loadComparison();
  }
}

/** Fetches the comparison again (after the open run's threshold changed). */
export function refreshComparison() {
  if (current?.otherId) loadComparison();
}

export function hideComparison() {
  seq++;
  current = null;
  show($("compare-box"), false);
  ctx?.charts.setCompare(null);
}

async function loadComparison() {
  const mine = ++seq;
  if (!current) return;
  const { runId, otherId } = current;
  current.data = null;
  if (!otherId) {
    renderComparison();
    return;
  }
  $("compare-summary").textContent = "Comparing…";
  try {
    const data = await api.compareRuns(runId, otherId);
    if (mine !== seq || current?.runId !== runId) return;
    current.data = data;
  } catch (err) {
    if (mine !== seq) return;
    ctx.onError(err, "Could not compare the runs");
  }
  renderComparison();
}

function renderComparison() {
  const data = current?.data;
  const box = $("compare-result");
  show(box, Boolean(data));
  document.body.dataset.comparing = data ? data.other.id : "";
  ctx?.charts.setCompare(data ? { events: data.other_events, label: data.other.name || data.other.label } : null);
  if (!data) {
    $("compare-summary").textContent = "";
    return;
  }
  const { run, other } = data;
  const otherName = other.name || other.label;
  $("compare-summary").textContent =
    `This run: ${count(run.event_count)}, ${fmtInt(run.shared)} also found by the other. `
    + `${otherName}: ${count(other.event_count)}, ${fmtInt(other.shared)} also found here (blue band on the chart).`;
  $("compare-differences").textContent = data.differences.length
    ? `Differs in: ${data.differences.map((d) => d.text).join("; ")}.`
    : "Both runs were asked alike (same detector, threshold, training part and event options).";

  const own = ctx.ownEvents();
  const onlyHere = data.run_events_shared.flatMap((shared, i) => (shared || !own[i] ? [] : [own[i]]));
  const onlyThere = data.other_events.filter((e) => !e.shared);
  $("compare-only").replaceChildren(
    onlyList("Only this run found", onlyHere, "compare-only-here", (e) => ctx.zoomToOwn(e.index)),
    onlyList("Only the other run found", onlyThere, "compare-only-other", (e) => ctx.zoomToSpan(e.start_time, e.end_time)),
  );
}

function count(n) {
  return `${fmtInt(n)} event${n === 1 ? "" : "s"}`;
}

/** A titled list of events, each a button that zooms to it; empty lists say "none". */
function onlyList(title, events, testid, onPick) {
  const byTime = [...events].sort((a, b) => a.start_time - b.start_time);
  const items = byTime.slice(0, LIST_MAX).map((e) => el("li", {},
    el("button", { type: "button", class: "link-button", "data-testid": testid, onclick: () => onPick(e) },
      `${fmtTime(e.peak_time ?? e.start_time, ctx.timeAxis())}${e.rank != null ? ` (rank ${e.rank})` : ""}`)));
  if (byTime.length > LIST_MAX) items.push(el("li", { class: "muted" }, `and ${fmtInt(byTime.length - LIST_MAX)} more`));
  return el("div", { class: "compare-list" },
    el("p", {}, el("strong", {}, title), `: ${byTime.length ? fmtInt(byTime.length) : "none"}`),
    items.length ? el("ul", {}, ...items) : null);
}
