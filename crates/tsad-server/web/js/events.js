// The events table: one row per event, most severe first (rank 1 = the most severe), or by time;
// at most MAX_ROWS rows until "Show all". Click (or Enter) selects and zooms, "Explain" asks the
// server for the evidence. Events are numbered by their position in the list the caller gives
// (most severe first), which is also how the chat names them.

import { $, el, fmtNum, fmtTime, fmtDuration, fmtInt, fmtPercent, fmtEvery, everyFromSensitivity } from "./util.js";

const MAX_ROWS = 50;
const MEMBER_COLORS = ["#2a9d8f", "#7b5ea7", "#e76f51", "#3d85c6", "#8ab17d", "#b5838d"];
const ARROWS = { up: ["▲", "above expected"], down: ["▼", "below expected"], unknown: ["•", "no expected value"] };

let state = { events: [], opts: {}, sort: "rank", selected: null, showAll: false };

/**
 * events: most severe first. opts: {timeAxis, stepMs, quiet (why there are none), onSelect(n),
 * onExplain(n), onReach(s) (move the slider to s)}
 */
export function renderEvents(events, opts) {
  state = { ...state, events: events || [], opts: { ...state.opts, ...opts }, showAll: false };
  if (state.selected != null && state.selected >= state.events.length) state.selected = null;
  draw();
}

export function selectEvent(n) {
  state.selected = n;
  const table = $("events-table");
  for (const row of table.querySelectorAll("tbody tr")) {
    const on = Number(row.dataset.eventIndex) === n;
    row.classList.toggle("selected", on);
    row.setAttribute("aria-selected", on ? "true" : "false");
    if (on) scrollRowIntoView(row);
  }
}

// Vertical only: scrollIntoView would also scroll a wide table sideways.
function scrollRowIntoView(row) {
  const box = row.closest(".table-scroll");
  if (!box) return;
  const head = box.querySelector("thead")?.offsetHeight ?? 0;
  const top = row.offsetTop - head;
  const bottom = row.offsetTop + row.offsetHeight;
  if (top < box.scrollTop) box.scrollTop = top;
  else if (bottom > box.scrollTop + box.clientHeight) box.scrollTop = bottom - box.clientHeight;
}

export function clearEvents() {
  state = { events: [], opts: state.opts, sort: "rank", selected: null, showAll: false };
  $("events-table").replaceChildren();
  $("events-note").textContent = "";
  $("events-show-all").classList.add("hidden");
}

let wired = false;

function draw() {
  const { events, opts, sort } = state;
  if (!wired) {
    wired = true;
    $("events-show-all").addEventListener("click", () => {
      state.showAll = true;
      draw();
    });
  }
  const table = $("events-table");
  const memberNames = [...new Set(events.flatMap((e) => (e.members || []).map((m) => m.name)))];
  const order = events.map((e, i) => i);
  if (sort === "time") order.sort((a, b) => events[a].start_time - events[b].start_time || a - b);
  const maxSev = Math.max(1, ...events.map((e) => e.severity ?? 0).filter(Number.isFinite));
  const hasRarity = events.some((e) => Number.isFinite(e.rarity));

  const sortButton = (key, text) => el("button", {
    type: "button", class: "sort" + (sort === key ? " active" : ""), "aria-pressed": String(sort === key),
    title: `Sort by ${text.toLowerCase()}`,
    onclick: () => { state.sort = key; draw(); },
  }, text, sort === key ? (key === "time" ? " ↑" : " ↓") : "");

  const head = el("thead", {}, el("tr", {},
    el("th", { scope: "col", class: "num", title: "1 = the most severe event" }, sortButton("rank", "Rank")),
    opts.series ? el("th", { scope: "col" }, "Series") : null,
    el("th", { scope: "col" }, sortButton("time", opts.timeAxis === "epoch_millis" ? "When (UTC)" : "When")),
    opts.markOf ? el("th", { scope: "col", title: "Your judgement of the event: kept with the dataset, shown on every run" }, "Your mark") : null,
    hasRarity ? el("th", { scope: "col", class: "num", title: "−log10 of how often normal data scores this high: 5 = about 1 point in 100,000" }, "Rarity") : null,
    el("th", { scope: "col", title: "The peak's value on the threshold's scale divided by the cut-off" }, "Severity"),
    el("th", { scope: "col" }, "Actual vs expected"),
    memberNames.length ? el("th", { scope: "col" }, "Members",
      el("div", { class: "member-legend" }, memberNames.map((name, k) =>
        el("span", { class: "member-key" }, el("i", { style: { background: MEMBER_COLORS[k % MEMBER_COLORS.length] }, "aria-hidden": "true" }), name)))) : null,
    el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions"))));

  const cap = state.showAll ? order.length : MAX_ROWS;
  // The selected event stays in the table even when it is past the cap.
  const shown = order.slice(0, cap);
  if (state.selected != null && state.selected < events.length && !shown.includes(state.selected)) shown.push(state.selected);
  const rows = shown.map((i) => row(events[i], i, memberNames, maxSev, hasRarity));
  const body = el("tbody", {}, rows);
  if (!events.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: 7, "data-testid": "events-empty" }, emptyText(opts))));
  table.replaceChildren(head, body);
  const capped = events.length > cap;
  $("events-note").textContent = capped
    ? `Showing ${fmtInt(cap)} of ${fmtInt(events.length)} events (${sort === "time" ? "the earliest" : "the most severe"}).`
    : events.length > MAX_ROWS ? `All ${fmtInt(events.length)} events.` : "";
  $("events-show-all").classList.toggle("hidden", !capped);
  if (state.selected != null) selectEvent(state.selected);
}

/**
 * What an empty table says: why nothing was kept (the run's `quiet`, see docs/API.md) and, when
 * the rarest point is below the cut, a button that moves the slider just far enough to flag it.
 */
function emptyText(opts) {
  const q = opts.quiet;
  const at = (q) => (q.time != null ? fmtTime(q.time, opts.timeAxis) : `point ${fmtInt(q.index)}`);
  const oneIn = (rarity) => fmtInt(Math.round(10 ** rarity));
  if (q?.reason === "events_dropped") {
    return q.routine
      ? "No events kept: points passed the cut-off, but the routine rule set their events aside (tick “flag routine” to list them), or the run's minimum event length or pruning dropped them."
      : "No events kept: points passed the cut-off, but the run's event options (a minimum event length or pruning, given when it was started through the API) dropped every event they formed.";
  }
  if (q?.reason === "nothing_stands_out") {
    return q.rarity < 0.5
      ? "No events, and no point stands out: every point scores about alike."
      : `No events, and no point stands out: the rarest, at ${at(q)}, is as common as one point in ${oneIn(q.rarity)} of normal data.`;
  }
  if (q?.reason === "below_cut" && Number.isFinite(q.rarity)) {
    const text = `No events at this threshold. The rarest point, at ${at(q)}, scores as high as about one point in ${oneIn(q.rarity)} of normal data.`;
    // The slider's cut is 1 + 8(1 - s) on the rarity scale: the first step strictly below it.
    // (A cut set beyond the slider's range through the API: its far left flags the point.)
    const s = Math.max(0.01, Math.ceil((1 - (q.rarity - 1) / 8) * 100 + 1e-6) / 100);
    if (!opts.onReach || s > 0.99) return text;
    const every = fmtEvery(everyFromSensitivity(s));
    return [text, " ", el("button", {
      type: "button", class: "link-button", "data-testid": "events-reach",
      title: `Moves the slider to ${s.toFixed(2)}`,
      onclick: () => opts.onReach(s),
    }, `Flag it: allow about 1 false alarm per ${every} points`)];
  }
  if (q?.reason === "below_cut") {
    return `No events at this threshold. The highest score, ${fmtNum(q.score)}, is at ${at(q)}: a lower k (or q) flags more.`;
  }
  return "No events at this threshold. Allow more false alarms (move the slider right) to see weaker anomalies.";
}

function row(e, i, memberNames, maxSev, hasRarity) {
  const { opts } = state;
  const [arrow, arrowText] = ARROWS[e.direction] || ARROWS.unknown;
  const duration = opts.timeAxis === "epoch_millis"
    ? fmtDuration(e.end_time - e.start_time + (opts.stepMs || 0))
    : `${fmtInt(e.end - e.start + 1)} pts`;
  const points = e.end - e.start + 1;
  const sev = e.severity;
  const sevBar = Number.isFinite(sev) ? Math.min(1, sev / maxSev) : 0;
  const delta = e.expected != null && e.actual != null ? e.actual - e.expected : null;

  const tr = el("tr", {
    tabindex: "0", "data-testid": "event-row", "data-event-index": i, "data-rank": e.rank ?? i + 1, "aria-selected": "false",
    onclick: (ev) => { if (!ev.target.closest("button, select, input")) opts.onSelect?.(i); },
    onkeydown: (ev) => {
      if ((ev.key === "Enter" || ev.key === " ") && ev.target === tr) {
        ev.preventDefault();
        opts.onSelect?.(i);
      }
    },
  },
  el("td", { class: "num" }, `#${e.rank ?? i + 1}`),
  opts.series ? el("td", { class: "series-name" }, opts.series) : null,
  el("td", { class: "nowrap" },
    el("div", {}, fmtTime(e.start_time, opts.timeAxis)),
    el("div", { class: "sub", title: `${fmtInt(points)} point${points === 1 ? "" : "s"}, ${fmtInt(e.flagged)} flagged` },
      `${duration} · ${fmtInt(e.flagged)} flagged`)),
  opts.markOf ? markCell(e, i) : null,
  hasRarity ? el("td", { class: "num nowrap" },
    el("div", {}, Number.isFinite(e.rarity) ? fmtNum(e.rarity, 3) : "–"),
    el("div", { class: "sub", title: "How often normal data scores this high" }, Number.isFinite(e.rarity) ? oneIn(e.rarity) : "")) : null,
  el("td", { class: "nowrap" },
    el("div", {},
      el("span", { class: "sev-bar", "aria-hidden": "true" }, el("span", { style: { width: `${Math.round(sevBar * 100)}%` } })),
      " ", Number.isFinite(sev) ? `${fmtNum(sev, 3)}×` : "–"),
    e.standout
      ? el("div", { class: "sub standout", "data-testid": "standout",
        title: "Below the threshold, kept because it stands at least ten times rarer than anything else in the series" },
        "stands out")
      : el("div", { class: "sub", title: "Score at the peak" }, `score ${fmtNum(e.peak_score)}`)),
  el("td", { class: "nowrap" },
    el("div", {},
      el("span", { class: `dir dir-${e.direction || "unknown"}`, title: arrowText, "aria-label": arrowText }, arrow),
      " ", fmtNum(e.actual), el("span", { class: "muted" }, " vs "), e.expected == null ? el("span", { class: "muted" }, "–") : fmtNum(e.expected)),
    el("div", { class: "sub", title: arrowText }, delta != null ? `${delta > 0 ? "+" : ""}${fmtNum(delta)}` : arrowText)),
  memberNames.length ? el("td", {}, memberBars(e.members || [], memberNames)) : null,
  el("td", {}, el("button", {
    type: "button", class: "button small", "data-testid": "explain-button", "data-event-index": i,
    "aria-label": `Explain event ${i + 1} (rank ${e.rank ?? i + 1})`,
    onclick: () => { opts.onSelect?.(i); opts.onExplain?.(i); },
  }, "Explain")));
  return tr;
}

const VERDICTS = [["", "–"], ["confirmed", "✓ confirmed"], ["false_alarm", "✗ false alarm"], ["unsure", "? unsure"]];

/** The user's verdict and note on an event; changes go to opts.onMark(i, verdict, comment). */
function markCell(e, i) {
  const { opts } = state;
  const mark = opts.markOf(e);
  const verdict = el("select", {
    "data-testid": "event-verdict", "data-event-index": i, "aria-label": `Your mark on event ${i + 1}`,
    onchange: () => opts.onMark?.(i, verdict.value, comment.value),
  }, VERDICTS.map(([v, text]) => el("option", { value: v }, text)));
  verdict.value = mark?.verdict && mark.verdict !== "missed" ? mark.verdict : "";
  const comment = el("input", {
    type: "text", placeholder: "note", "data-testid": "event-comment", "data-event-index": i,
    "aria-label": `Your note on event ${i + 1}`, value: mark?.comment || "",
    onchange: () => opts.onMark?.(i, verdict.value || "unsure", comment.value),
  });
  return el("td", { class: "mark-cell" }, verdict, comment);
}

function memberBars(members, names) {
  const byName = new Map(members.map((m) => [m.name, m.share]));
  const shares = names.map((name) => byName.get(name) ?? 0);
  const text = names.map((name, k) => `${name} ${fmtPercent(shares[k])}`).join(", ");
  return el("div", { class: "members-cell", title: text, "aria-label": `Share of the evidence: ${text}` },
    el("span", { class: "stack-bar", "aria-hidden": "true" }, names.map((name, k) =>
      el("span", { style: { width: `${(shares[k] * 100).toFixed(1)}%`, background: MEMBER_COLORS[k % MEMBER_COLORS.length] } }))),
    el("span", { class: "sub", "aria-hidden": "true" }, shares.map(fmtPercent).join(" · ")));
}

/** Rarity r -> "1 in 100,000" (normal points scoring this high). */
function oneIn(r) {
  if (r >= 15) return "beyond 1 in 10¹⁵";
  const n = 10 ** r;
  return `1 in ${n >= 100 ? Number(n.toPrecision(2)).toLocaleString("en-US") : fmtNum(n, 2)}`;
}
