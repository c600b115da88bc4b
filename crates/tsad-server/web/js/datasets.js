// The data step: demo, CSV upload (button or drag and drop), preview, diagnostics, column pickers,
// and the sidebar list of datasets.

import { api } from "./api.js";
import { itemActions } from "./manage.js";
import { suggestTrainingRows } from "./detector.js";
import { $, el, show, fmtInt, fmtBytes, fmtAgo, fmtNum, humanize } from "./util.js";

let ctx = null;
let current = null;

/** ctx: {onOpen(dataset), onError(err), clearError()} */
export function initDatasets(context) {
  ctx = context;
  const input = $("file-input");
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) upload(input.files[0]);
    input.value = "";
  });
  $("upload-button").addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  $("demo-button").addEventListener("click", loadDemo);
  $("change-data").addEventListener("click", () => {
    const zone = $("dropzone");
    show(zone, zone.classList.contains("hidden"));
  });
  $("time-column-select").addEventListener("change", markPreviewColumns);
  $("value-column-select").addEventListener("change", markPreviewColumns);
  $("series-select").addEventListener("change", renderSeriesHelp);

  // A file dropped anywhere on the page is an upload; never let the browser navigate to it.
  const zone = $("dropzone");
  let depth = 0;
  window.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    show(zone, true);
    zone.classList.add("dragging");
  });
  window.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  window.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  window.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) upload(file);
  });
}

function hasFiles(e) {
  return e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
}

function setBusy(text) {
  $("upload-status").textContent = text || "";
  $("demo-button").disabled = Boolean(text);
  $("upload-button").classList.toggle("disabled", Boolean(text));
}

async function loadDemo() {
  ctx.clearError();
  setBusy("Creating the demo series…");
  try {
    const ds = await api.createDemo();
    ctx.onOpen(ds);
    // The demo's first tenth holds no anomaly: fit on it.
    suggestTrainingRows(Math.floor((ds.rows || 0) / 10));
  } catch (err) {
    ctx.onError(err, "Could not create the demo data");
  } finally {
    setBusy("");
  }
}

async function upload(file) {
  ctx.clearError();
  setBusy(`Uploading ${file.name} (${fmtBytes(file.size)})…`);
  try {
    const ds = await api.uploadCsv(file, $("decimal-select").value);
    ctx.onOpen(ds);
  } catch (err) {
    const what = err.message.includes(file.name) ? "Could not read the file" : `Could not read ${file.name}`;
    // Say what is still open, so nobody takes the old data for the new file.
    ctx.onError(err, current ? `${what} (“${current.name}” is still loaded)` : what);
    show($("dropzone"), true);
  } finally {
    setBusy("");
  }
}

export function currentDataset() {
  return current;
}

/** Shows a dataset: summary, diagnostics, column pickers, preview. */
export function showDataset(ds) {
  current = ds;
  show($("dataset-panel"), Boolean(ds));
  show($("dropzone"), !ds);
  if (!ds) return;

  const cols = ds.columns || [];
  const bits = [el("strong", { class: "ds-name" }, ds.name || ds.id)];
  bits.push(el("span", { class: "muted" }, ` · ${fmtInt(ds.rows)} rows · ${cols.length} columns · ${fmtBytes(ds.size_bytes)}`));
  if (ds.delimiter && ds.delimiter !== ",") bits.push(el("span", { class: "muted" }, ` · delimiter ${JSON.stringify(ds.delimiter)}`));
  if (ds.label_column) bits.push(el("span", { class: "muted" }, ` · labels in “${ds.label_column}”`));
  $("dataset-summary").replaceChildren(...bits);

  renderDiagnostics(ds.diagnostics);
  fillColumnSelects(ds);
  renderPreview(ds);
}

function columnName(ds, ref) {
  if (ref == null) return null;
  if (typeof ref === "number") return (ds.columns || []).find((c) => c.index === ref)?.name ?? null;
  return ref;
}

function fillColumnSelects(ds) {
  const cols = ds.columns || [];
  const kindText = (c) => (c.kind && c.kind !== "text" ? ` (${c.kind})` : "");
  const time = $("time-column-select");
  time.replaceChildren(
    el("option", { value: "" }, "(none: row index)"),
    ...cols.map((c) => el("option", { value: c.name }, c.name + kindText(c))),
  );
  time.value = columnName(ds, ds.time_column) ?? "";
  const value = $("value-column-select");
  value.replaceChildren(...cols.map((c) => el("option", { value: c.name }, c.name + kindText(c))));
  const v = columnName(ds, ds.value_column);
  if (v != null) value.value = v;
  const series = $("series-select");
  const numeric = cols.filter((c) => c.kind === "numeric").length;
  series.replaceChildren(
    el("option", { value: "" }, "one: the value column"),
    el("option", { value: "*" }, `one per numeric column (${numeric})`),
    ...cols.map((c) => el("option", { value: `id:${c.name}` }, `one per value of “${c.name}”`)),
  );
  series.value = ds.series_column ? `id:${ds.series_column}` : "";
  renderSeriesHelp();
}

function renderSeriesHelp() {
  const s = $("series-select").value;
  const many = s !== "";
  $("value-column-select").disabled = s === "*";
  $("series-help").textContent = !many ? ""
    : s === "*" ? "Each numeric column is a series of its own (0/1 label columns and row counters are passed over); the detector runs on every one and the series are ranked by their worst event."
      : `The rows of each value of “${s.slice(3)}” form a series of the value column; the detector runs on every one and the series are ranked by their worst event.`;
}

/** The user's column choice, as the run request wants it. */
export function columnChoice() {
  const t = $("time-column-select").value;
  const v = $("value-column-select").value;
  const s = $("series-select").value;
  const time_column = t === "" ? null : t;
  if (s === "*") return { time_column, value_columns: [] };
  const choice = { time_column, value_column: v === "" ? null : v };
  if (s.startsWith("id:")) choice.series_column = s.slice(3);
  return choice;
}

/** Sets the pickers (when reopening a run made with other columns). */
export function setColumnChoice(timeColumn, valueColumn, fleet) {
  if (!current) return;
  const t = columnName(current, timeColumn);
  const v = columnName(current, valueColumn);
  $("time-column-select").value = t ?? "";
  if (v != null) $("value-column-select").value = v;
  const id = fleet?.series_column != null ? columnName(current, fleet.series_column) : null;
  $("series-select").value = id != null ? `id:${id}` : fleet ? "*" : "";
  renderSeriesHelp();
  markPreviewColumns();
}

function renderPreview(ds) {
  const table = $("preview-table");
  const cols = ds.columns || [];
  const rows = ds.preview?.rows || [];
  const width = Math.max(cols.length, ...rows.map((r) => r.length), 0);
  const names = Array.from({ length: width }, (_, i) => cols.find((c) => c.index === i)?.name ?? cols[i]?.name ?? `column ${i + 1}`);
  const head = el("thead", {}, el("tr", {}, el("th", { class: "rownum", scope: "col" }, "#"), names.map((n) => el("th", { scope: "col" }, n))));
  const body = el("tbody", {}, rows.map((r, i) =>
    el("tr", {}, el("td", { class: "rownum" }, i + 1), names.map((_, j) => el("td", {}, r[j] ?? "")))));
  table.replaceChildren(head, body);
  $("preview-note").textContent = rows.length ? `(first ${rows.length} of ${fmtInt(ds.rows)} rows)` : "(no rows)";
  markPreviewColumns();
}

function markPreviewColumns() {
  const table = $("preview-table");
  if (!current) return;
  const names = (current.columns || []).map((c) => c.name);
  const { time_column: t, value_column: v } = columnChoice();
  const ti = names.indexOf(t) + 1;
  const vi = names.indexOf(v) + 1;
  for (const row of table.rows) {
    Array.from(row.cells).forEach((cell, i) => {
      cell.classList.toggle("col-time", i > 0 && i === ti);
      cell.classList.toggle("col-value", i > 0 && i === vi);
    });
  }
}

const LABELS = {
  rows_read: ["row read", "rows read"],
  rows: ["row", "rows"],
  points: ["point", "points"],
  missing_values: ["missing value", "missing values"],
  missing: ["missing value", "missing values"],
  rejected: ["rejected row", "rejected rows"],
  duplicates: ["duplicate timestamp", "duplicate timestamps"],
  gaps: ["gap", "gaps"],
};
// Shown elsewhere (summary line, column pickers) or only useful to machines.
const SKIP = new Set(["source", "delimiter", "has_header", "time_column", "value_column", "time_axis", "step_ms"]);
const BAD = /missing|reject|dup|gap|invalid|error|skip|bad|nan/i;

function counted(n, key) {
  const [one, many] = LABELS[key] ?? [null, humanize(key).toLowerCase()];
  return `${fmtNum(n)} ${n === 1 && one ? one : many}`;
}

/**
 * Renders tsad-io's Diagnostics: counts as chips (amber when something needs a look), warnings
 * as sentences, and the first rejected rows, duplicates and gaps as expandable lists. Unknown
 * fields fall back to a generic rendering, so a new field never breaks the page.
 */
function renderDiagnostics(diag) {
  const box = $("diagnostics");
  box.replaceChildren();
  if (!diag || typeof diag !== "object") return;
  const chips = el("ul", { class: "chips", "aria-label": "Ingest diagnostics" });
  const lists = [];
  const notes = [];
  let timeFormat = null;
  const indexAxis = diag.time_column === null || /row index/i.test(diag.time_format || "");
  // `x_rows` lists detail the count in `x`; they get a list, not a second chip.
  const detailOf = (key) => {
    if (!key.endsWith("_rows")) return null;
    const base = key.slice(0, -5);
    return [base, `${base}s`].find((k) => typeof diag[k] === "number") ?? null;
  };

  // The server's JSON object may come with its keys sorted; show the important counts first.
  const ORDER = ["rows_read", "rows", "points", "missing_values", "missing", "rejected", "duplicates", "gaps", "sorted", "median_step"];
  const rank = (k) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
  const entries = Object.entries(diag).sort(([a], [b]) => rank(a) - rank(b));
  for (const [key, value] of entries) {
    if (value == null || SKIP.has(key)) continue;
    if (key === "warnings" && Array.isArray(value)) {
      notes.push(...value.map(String));
    } else if (key === "sorted" && typeof value === "boolean") {
      // tsad-io: true means the rows were out of time order and had to be sorted.
      chips.append(chip(value ? "rows were out of order: sorted" : "in time order", value));
    } else if (key === "median_step" || key === "step") {
      chips.append(chip(`step ${indexAxis ? `${fmtNum(value)} row${value === 1 ? "" : "s"}` : fmtStep(value)}`, false));
    } else if (key === "time_format" && typeof value === "string") {
      timeFormat = value;
    } else if (typeof value === "number") {
      chips.append(chip(counted(value, key), BAD.test(key) && value > 0));
    } else if (typeof value === "boolean") {
      chips.append(chip(`${humanize(key).toLowerCase()}: ${value ? "yes" : "no"}`, false));
    } else if (typeof value === "string") {
      chips.append(chip(`${humanize(key).toLowerCase()}: ${value}`, false));
    } else if (Array.isArray(value)) {
      const parent = detailOf(key);
      if (!parent) chips.append(chip(counted(value.length, key), BAD.test(key) && value.length > 0));
      if (value.length) lists.push([parent ?? key, value, parent ? diag[parent] : value.length]);
    } else if (typeof value === "object") {
      const count = [value.count, value.total, value.n].find((x) => typeof x === "number");
      const items = Object.values(value).find(Array.isArray);
      if (count != null) {
        const extra = typeof value.missing_steps === "number" && value.missing_steps > 0 ? ` (${fmtInt(value.missing_steps)} missing steps)` : "";
        chips.append(chip(counted(count, key) + extra, BAD.test(key) && count > 0));
      }
      if (items && items.length) lists.push([key, items, count ?? items.length]);
    }
  }
  box.append(chips);
  if (timeFormat) box.append(el("p", { class: "help time-format" }, `Timestamps: ${timeFormat}`));
  if (notes.length) box.append(el("ul", { class: "diag-warnings" }, notes.map((w) => el("li", {}, w))));
  for (const [key, items, total] of lists) {
    const label = (LABELS[key]?.[1] ?? humanize(key).toLowerCase());
    const title = total > items.length ? `${humanize(label)}: first ${items.length} of ${fmtInt(total)}` : `${humanize(label)} (${fmtInt(items.length)})`;
    box.append(el("details", { class: "diag-list" },
      el("summary", {}, title),
      el("ul", {}, items.slice(0, 50).map((item) => el("li", {}, describeItem(item))))));
  }
}

function chip(text, warn) {
  return el("li", { class: warn ? "chip warn" : "chip" }, text);
}

function fmtStep(ms) {
  if (ms % 86400000 === 0) return `${ms / 86400000} d`;
  if (ms % 3600000 === 0) return `${ms / 3600000} h`;
  if (ms % 60000 === 0) return `${ms / 60000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

function describeItem(item) {
  if (item == null) return "";
  if (typeof item !== "object") return String(item);
  if (item.kept_line != null && item.dropped_line != null) {
    return `${item.timestamp ?? "same timestamp"}: line ${item.dropped_line} dropped, line ${item.kept_line} kept`;
  }
  if (item.start != null && item.end != null && item.missing_steps != null) {
    return `${item.start} → ${item.end}: ${fmtInt(item.missing_steps)} missing step${item.missing_steps === 1 ? "" : "s"}`;
  }
  const line = item.line ?? item.line_number ?? item.row;
  const where = [line != null ? `line ${line}` : null, item.column != null ? `column “${item.column}”` : null].filter(Boolean).join(", ");
  const what = [item.value != null ? `“${item.value}”` : null, item.reason ?? item.message ?? item.error].filter(Boolean).join(": ");
  const known = new Set(["line", "line_number", "row", "column", "value", "reason", "message", "error"]);
  const rest = Object.entries(item).filter(([k]) => !known.has(k)).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
  return [where, what, rest].filter(Boolean).join(": ");
}

/** Sidebar list of datasets. */
/** What the sidebar's rename and delete report to: onChanged(kind, id, deleted), onError. */
const manage = {};
export function onListChanges(handlers) {
  Object.assign(manage, handlers);
}

export async function refreshDatasetList(currentId, onPick) {
  const list = $("dataset-list");
  let data;
  try {
    data = await api.listDatasets();
  } catch {
    list.replaceChildren(el("li", { class: "muted" }, "Could not load the list."));
    return;
  }
  const items = data?.datasets || [];
  if (!items.length) {
    list.replaceChildren(el("li", { class: "muted" }, "None yet: load the demo or a CSV."));
    return;
  }
  list.replaceChildren(...items.map((d) => {
    const title = el("span", { class: "item-title" }, d.name || d.id);
    return el("li", {},
      el("button", {
        type: "button",
        class: d.id === currentId ? "item current" : "item",
        "aria-current": d.id === currentId ? "true" : null,
        "data-testid": "dataset-item",
        "data-id": d.id,
        title: d.name,
        onclick: () => onPick(d.id),
      },
      title,
      el("span", { class: "item-meta" }, `${fmtInt(d.rows)} rows · ${d.run_count ?? 0} run${d.run_count === 1 ? "" : "s"} · ${fmtAgo(d.created_at)}`)),
      itemActions({
        what: "dataset", name: d.name || d.id, title,
        rename: async (name) => {
          await api.renameDataset(d.id, name);
          manage.onChanged?.("dataset", d.id, false);
        },
        remove: async () => {
          await api.deleteDataset(d.id);
          manage.onChanged?.("dataset", d.id, true);
        },
        onError: (err, what) => manage.onError?.(err, what),
      }));
  }));
}
