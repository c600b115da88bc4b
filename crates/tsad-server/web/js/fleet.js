// A many-series run: the list of its series (GET /runs/{id}/series), each with a sparkline, its
// event count, its worst event's rarity and status; sortable by clicking the headers, filtered by
// name or by kind, paged. Opening a row opens that series' own run with today's charts.

import { api } from "./api.js";
import { $, el, show, fmtNum, fmtInt, fmtTime, debounce } from "./util.js";

const PAGE = 100;
const SVG = "http://www.w3.org/2000/svg";

let state = { run: null, sort: "severity", order: "desc", q: "", only: "", shown: 0, onOpen: null, token: 0 };
let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $("fleet-filter").addEventListener("input", debounce(() => {
    state.q = $("fleet-filter").value.trim();
    load(false);
  }, 200));
  $("fleet-only").addEventListener("change", () => {
    state.only = $("fleet-only").value;
    load(false);
  });
  $("fleet-more").addEventListener("click", () => load(true));
}

export function hideFleet() {
  state.run = null;
  state.token++;
  delete document.body.dataset.fleetReady;
  show($("fleet"), false);
}

/** Shows a succeeded many-series run's series; onOpen(runId) opens one series. */
export async function showFleet(run, onOpen) {
  wire();
  const same = state.run?.id === run.id;
  state = { ...state, run, onOpen, shown: 0 };
  if (!same) {
    state = { ...state, sort: "severity", order: "desc", q: "", only: "" };
    $("fleet-filter").value = "";
    $("fleet-only").value = "";
  }
  const f = run.fleet || {};
  $("fleet-count").textContent = `${fmtInt(f.series ?? 0)} series`;
  const parts = [
    `${fmtInt(f.with_events ?? 0)} with events`,
    `${fmtInt(f.events ?? 0)} event${f.events === 1 ? "" : "s"} in all`,
    f.failed ? `${fmtInt(f.failed)} failed` : null,
    f.series_column ? `one per value of “${f.series_column}”` : "one per column",
  ];
  $("fleet-meta").textContent = parts.filter(Boolean).join(" · ");
  show($("fleet"), true);
  await load(false);
}

async function load(more) {
  const run = state.run;
  if (!run) return;
  const token = ++state.token;
  const offset = more ? state.shown : 0;
  delete document.body.dataset.fleetReady;
  const list = await api.runSeries(run.id, {
    sort: state.sort, order: state.order, q: state.q || undefined, only: state.only || undefined, offset, limit: PAGE,
  });
  if (token !== state.token) return;
  render(list, more);
  document.body.dataset.fleetReady = "true";
}

function sortButton(key, text, title) {
  const active = state.sort === key;
  return el("button", {
    type: "button", class: "sort" + (active ? " active" : ""), "aria-pressed": String(active),
    "data-testid": `fleet-sort-${key}`, title,
    onclick: () => {
      if (active) state.order = state.order === "desc" ? "asc" : "desc";
      else {
        state.sort = key;
        state.order = key === "name" ? "asc" : "desc";
      }
      load(false);
    },
  }, text, active ? (state.order === "desc" ? " ↓" : " ↑") : "");
}

function render(list, more) {
  const table = $("fleet-table");
  const axis = state.run?.summary?.time_axis;
  const head = el("thead", {}, el("tr", {},
    el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Shape")),
    el("th", { scope: "col" }, sortButton("name", "Series", "Sort by name")),
    el("th", { scope: "col", class: "num" }, sortButton("events", "Events", "Sort by the number of events")),
    el("th", { scope: "col", class: "num" }, sortButton("severity", "Worst rarity",
      "Sort by the worst event: −log10 of how often normal data scores this high, comparable across series")),
    el("th", { scope: "col" }, "Worst event at"),
    el("th", { scope: "col" }, "Status")));
  const rows = list.series.map((s) => row(s, axis));
  let body = table.tBodies[0];
  if (!more || !body) {
    body = el("tbody", {});
    table.replaceChildren(head, body);
  }
  body.append(...rows);
  if (!more && !list.series.length) {
    body.append(el("tr", { class: "empty" }, el("td", { colspan: 6 }, "No series match.")));
  }
  state.shown = (more ? state.shown : 0) + list.series.length;
  $("fleet-note").textContent = list.matched > state.shown
    ? `Showing ${fmtInt(state.shown)} of ${fmtInt(list.matched)} series${list.matched < list.total ? ` (of ${fmtInt(list.total)})` : ""}.`
    : list.matched < list.total ? `${fmtInt(list.matched)} of ${fmtInt(list.total)} series match.` : "";
  show($("fleet-more"), list.matched > state.shown);
}

function row(s, axis) {
  const open = () => state.onOpen?.(s.run_id);
  const failed = s.status !== "succeeded";
  const tr = el("tr", {
    tabindex: "0", "data-testid": "fleet-row", "data-name": s.name, "data-run-id": s.run_id,
    class: failed ? "failed" : s.events ? "has-events" : null,
    title: failed ? s.error?.message || "failed" : `Open ${s.name}`,
    onclick: open,
    onkeydown: (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        open();
      }
    },
  },
  el("td", { class: "spark-cell" }, sparkline(s.sparkline || [], s.events > 0)),
  el("td", { class: "series-name" }, s.name),
  el("td", { class: "num" }, failed ? "–" : fmtInt(s.events)),
  el("td", { class: "num" }, Number.isFinite(s.worst_rarity) ? fmtNum(s.worst_rarity, 3) : "–"),
  el("td", { class: "nowrap" }, s.worst_time != null ? fmtTime(s.worst_time, axis) : "–"),
  el("td", {}, failed ? el("span", { class: "status status-failed" }, s.error?.message || "failed") : `${fmtInt(s.points)} points`));
  return tr;
}

/** A small inline SVG polyline of the values (gaps where they are missing). */
function sparkline(values, alarm) {
  const w = 120, h = 28;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("sparkline");
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return svg;
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const span = hi - lo || 1;
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      pen = false;
      return;
    }
    const x = (i * step).toFixed(1);
    const y = (h - 2 - ((v - lo) / span) * (h - 4)).toFixed(1);
    d += `${pen ? "L" : "M"}${x},${y}`;
    pen = true;
  });
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", alarm ? "#c0392b" : "#3d85c6");
  path.setAttribute("stroke-width", "1.2");
  svg.append(path);
  return svg;
}
