// The detector step: preset/kind choice from GET /detectors, parameter inputs generated from each
// kind's JSON Schema (defaults and help text from its descriptions), preset overrides, what the
// detector fits on (the training part), and the threshold.

import { $, el, show, fmtNum, fmtInt, everyWords, everyOf, withCode } from "./util.js";
import { api } from "./api.js";

const PRESET_ORDER = ["hybrid-benford", "lstm-residual"];
// Shown up front; the rest of a kind's parameters go under "More parameters".
const PRIMARY = ["window", "epochs", "period", "policy", "k", "test", "quantile"];
const OVERRIDABLE = ["epochs", "window"];
const FALLBACK_THRESHOLDS = {
  auto: { method: "auto", every: 100000 },
  sigma: { method: "sigma", k: 3 },
  robust: { method: "robust", k: 5 },
  quantile: { method: "quantile", q: 0.99 },
  sensitivity: { method: "sensitivity", s: 0.5 },
};
const THRESHOLD_PARAM = {
  auto: { key: "every", label: "N (points per false alarm)", min: 2, max: null, step: 1 },
  sigma: { key: "k", label: "k (standard deviations)", min: 0, max: null, step: 0.1 },
  robust: { key: "k", label: "k (robust standard deviations)", min: 0, max: null, step: 0.1 },
  quantile: { key: "q", label: "q (0–1, exclusive)", min: 0.5, max: 0.99999, step: 0.001 },
  sensitivity: { key: "s", label: "s (0–1, higher flags more)", min: 0.01, max: 0.99, step: 0.01 },
};

let catalog = null;
let dataset = null; // the open dataset: rows, time column, median step
let kinds = new Map();
let presets = new Map();
let fields = []; // [{name, input, kind: "number"|"integer"|"boolean"|"enum"|"string", def, nullable, override}]

export function initDetectorForm(cat) {
  catalog = cat || {};
  kinds = new Map((catalog.detectors || []).map((d) => [d.kind, d]));
  const sortedPresets = [...(catalog.presets || [])].sort((a, b) => rank(a.name) - rank(b.name));
  presets = new Map(sortedPresets.map((p) => [p.name, p]));

  const select = $("detector-select");
  const groups = [];
  if (presets.size) {
    groups.push(el("optgroup", { label: "Presets" },
      sortedPresets.map((p) => el("option", { value: `preset:${p.name}` }, p.title ? `${p.name}: ${p.title}` : p.name))));
  }
  groups.push(el("optgroup", { label: "Detectors" },
    [...kinds.values()].map((d) => el("option", { value: `kind:${d.kind}` }, d.title ? `${d.title} (${d.kind})` : d.kind))));
  select.replaceChildren(...groups);
  select.disabled = false;
  select.addEventListener("change", () => renderParams());

  // The default detector is a preset (robust-stats): offer it by its name.
  const def = catalog.default_preset ? { preset: catalog.default_preset } : catalog.default_spec;
  let initial = def?.preset ? `preset:${def.preset}` : def?.kind ? `kind:${def.kind}` : null;
  if (!initial || ![...select.options].some((o) => o.value === initial)) initial = select.options[0]?.value;
  select.value = initial;
  renderParams(def && !def.preset ? def : null);

  const method = $("threshold-method");
  const known = new Set((catalog.thresholds || []).map((t) => t.method));
  if (known.size) for (const opt of method.options) opt.disabled = !known.has(opt.value);
  method.addEventListener("change", () => setThresholdMethod(method.value));
  $("threshold-value").addEventListener("input", thresholdHelp);
  const dt = catalog.default_threshold || FALLBACK_THRESHOLDS.auto;
  setThresholdMethod(dt.method, dt);

  $("train-mode").addEventListener("change", () => {
    wantedTrain = null;
    renderTrainMode();
    fillTrainPicker();
  });
  // Back from another tab, where a model may have been saved or a dataset uploaded.
  window.addEventListener("focus", () => fillTrainPicker());
  $("train-dataset").addEventListener("change", () => renderTrainMode());
  $("train-model").addEventListener("change", () => renderTrainMode());
  $("train-rows").addEventListener("input", () => renderTrainMode());
  $("train-until").addEventListener("input", () => renderTrainMode());
  $("time-column-select").addEventListener("change", () => renderTrainMode());
  renderTrainMode();
}

/** The open dataset changed: the training control and the threshold's words follow it. */
export function setTrainingDataset(ds) {
  dataset = ds || null;
  wantedTrain = null;
  $("train-mode").value = "all";
  $("train-rows").value = "";
  $("train-until").value = "";
  $("save-model").checked = false;
  renderTrainMode();
  thresholdHelp();
}

/**
 * Proposes fitting on the first `rows` rows, known to be normal (the demo injects nothing in
 * its first tenth), so the first run shows what fitting on normal data gives.
 */
export function suggestTrainingRows(rows) {
  if (!(rows > 0)) return;
  $("train-mode").value = "rows";
  $("train-rows").value = String(rows);
  renderTrainMode();
}

function stepMs() {
  const step = dataset?.diagnostics?.median_step;
  return hasTime() && Number.isFinite(step) ? step : null;
}

function hasTime() {
  return $("time-column-select").value !== "";
}

/** Shows the input the chosen training mode needs and says what it means. */
function renderTrainMode() {
  const mode = $("train-mode").value;
  show($("train-rows-field"), mode === "rows");
  show($("train-until-field"), mode === "until");
  show($("train-dataset-field"), mode === "dataset");
  show($("train-model-field"), mode === "model");
  // A run scored with a saved model fits nothing, so there is nothing new to save.
  show($("save-model-field"), mode !== "model");
  const until = $("train-until");
  const timed = hasTime();
  const wantType = timed ? "datetime-local" : "number";
  if (until.type !== wantType) {
    until.type = wantType;
    until.value = "";
    if (!timed) {
      until.min = "0";
      until.step = "1";
    } else {
      until.removeAttribute("min");
      until.step = "1";
    }
  }
  $("train-until-label").textContent = timed ? "Up to (UTC, inclusive)" : "Up to row (0-based, inclusive)";
  const rows = dataset?.rows;
  if (mode === "rows" && !$("train-rows").value && rows) $("train-rows").value = String(Math.max(1, Math.floor(rows / 2)));
  if (rows) $("train-rows").max = String(rows);
  const first = firstTime();
  const help = {
    all: "The detector learns normal from the whole series and calibrates its scores on it (its own highest scores left out). Pick a part that is known to be normal for alarms you can trust.",
    rows: `The detector learns normal from the first ${$("train-rows").value ? fmtInt(Number($("train-rows").value)) : "N"} rows${rows ? ` of ${fmtInt(rows)}` : ""} and scores every row; the training part is shaded on the chart.`,
    until: timed
      ? `The detector learns normal from the rows at or before this time (UTC)${first ? `; the data starts ${first}` : ""}. The time must leave rows to score.`
      : "The detector learns normal from the rows up to this row number (counted from 0).",
    dataset: "The detector learns normal from another dataset with this one's time and value columns, and scores all of this one. When it ends before this one starts, it is scored as its history; when both count rows, this one's first rows are also scored on their own (nothing says one follows the other).",
    model: "Scores with a saved model: its own detector and calibration, fitted before (save one with a run's \u201cSave the fitted model\u201d). The method and parameters above are not used.",
  }[mode];
  $("train-help").textContent = help || "";
}

/** A choice to select once its picker is listed ({mode, id}), e.g. a reopened run's. */
let wantedTrain = null;

/**
 * The datasets or saved models changed (an upload, a run that saved its model): the open
 * "Fit on" picker lists them again, keeping its choice.
 */
export function refreshTrainPicker() {
  fillTrainPicker();
}

/**
 * Lists what the chosen training mode picks from: the other datasets, or the saved models
 * (newest first), keeping the current choice or selecting `want`.
 */
async function fillTrainPicker(want) {
  const mode = $("train-mode").value;
  if (want !== undefined) wantedTrain = { mode, id: want };
  if (mode !== "dataset" && mode !== "model") return;
  const select = $(mode === "dataset" ? "train-dataset" : "train-model");
  let items = [];
  try {
    items = mode === "dataset"
      ? ((await api.listDatasets())?.datasets || []).filter((d) => d.id !== dataset?.id)
      : (await api.listModels())?.models || [];
  } catch {
    items = [];
  }
  const label = mode === "dataset"
    ? (d) => `${d.name || d.id} (${fmtInt(d.rows)} rows)`
    : (m) => `${m.name || m.id} (${m.kind}, ${m.id})`;
  const none = mode === "dataset" ? "no other dataset: upload one first" : "no saved model yet";
  // Read once the list is in: calls overlap (a reopened run's choice, a refresh), and
  // whichever answers last must keep what the user or the run chose meanwhile.
  const keep = wantedTrain?.mode === mode ? wantedTrain.id : select.value;
  if (wantedTrain?.mode === mode) wantedTrain = null;
  select.replaceChildren(...(items.length
    ? items.map((x) => el("option", { value: x.id }, label(x)))
    : [el("option", { value: "" }, none)]));
  if (keep && items.some((x) => x.id === keep)) select.value = keep;
  renderTrainMode();
}

/** The first time in the preview, as text (for the hint); null without a time column. */
function firstTime() {
  const col = $("time-column-select").value;
  const cols = dataset?.columns || [];
  const idx = cols.findIndex((c) => c.name === col);
  const cell = idx >= 0 ? dataset?.preview?.rows?.[0]?.[idx] : null;
  return cell ? `at ${cell}` : null;
}

/** The run request's training part and save flag ({train?, save_model?}); problems are added. */
function buildTrain(problems) {
  const out = {};
  const mode = $("train-mode").value;
  if (mode === "rows") {
    const n = Number($("train-rows").value);
    if (!Number.isInteger(n) || n < 1) problems.push("fit on: N must be a whole number of rows, at least 1");
    else out.train = { rows: n };
  } else if (mode === "until") {
    const raw = $("train-until").value.trim();
    if (!raw) problems.push("fit on: pick the date/time the training part ends at");
    else if (!hasTime()) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) problems.push("fit on: give a row number (0 or more)");
      else out.train = { until: n };
    } else {
      // datetime-local gives "2014-02-07T14:30" or with seconds; the server reads RFC 3339.
      const iso = raw.length === 16 ? `${raw}:00Z` : `${raw}Z`;
      out.train = { until: iso };
    }
  } else if (mode === "dataset") {
    const id = $("train-dataset").value;
    if (!id) problems.push("fit on: pick the dataset to learn normal from (upload it first)");
    else out.train = { dataset_id: id };
  } else if (mode === "model") {
    const id = $("train-model").value;
    if (!id) problems.push("fit on: pick a saved model (tick \u201cSave the fitted model\u201d on a run first)");
    else out.model_id = id;
    return out;
  }
  if ($("save-model").checked) out.save_model = true;
  return out;
}

function rank(name) {
  const i = PRESET_ORDER.indexOf(name);
  return i < 0 ? PRESET_ORDER.length : i;
}

function thresholdDefault(method) {
  const t = (catalog?.thresholds || []).find((x) => x.method === method);
  return t?.default || FALLBACK_THRESHOLDS[method];
}

function setThresholdMethod(method, value) {
  const meta = THRESHOLD_PARAM[method] || THRESHOLD_PARAM.sigma;
  const t = value || thresholdDefault(method);
  $("threshold-method").value = method;
  const input = $("threshold-value");
  input.min = meta.min;
  if (meta.max != null) input.max = meta.max;
  else input.removeAttribute("max");
  input.step = meta.step;
  input.value = t?.[meta.key] ?? "";
  $("threshold-value-label").textContent = meta.label;
  thresholdHelp();
}

/** The chosen threshold in words (for auto and sensitivity: false alarms per N points, and per
 * day/week/year at the dataset's step), then the catalog's description. */
function thresholdHelp() {
  const method = $("threshold-method").value;
  const meta = THRESHOLD_PARAM[method];
  const v = Number($("threshold-value").value);
  const desc = (catalog?.thresholds || []).find((x) => x.method === method)?.description || "";
  const every = meta && Number.isFinite(v) ? everyOf({ method, [meta.key]: v }) : null;
  const words = every != null && every > 1 ? `Now: ${everyWords(every, stepMs())}. ` : "";
  $("threshold-help").replaceChildren(...withCode(words + desc));
}

// ---- JSON Schema helpers -------------------------------------------------------------------

function resolveRef(schema, node) {
  let cur = node;
  for (let guard = 0; cur && guard < 8; guard += 1) {
    if (cur.$ref) {
      const name = cur.$ref.split("/").pop();
      const target = schema.$defs?.[name] ?? schema.definitions?.[name];
      if (!target) return null;
      const { $ref, ...rest } = cur;
      cur = { ...target, ...rest };
    } else if (Array.isArray(cur.allOf) && cur.allOf.length === 1) {
      const { allOf, ...rest } = cur;
      cur = { ...allOf[0], ...rest };
    } else break;
  }
  return cur;
}

/** Turns a property schema into an input description, or null when it is not a simple value. */
function describeProp(schema, raw) {
  let prop = resolveRef(schema, raw);
  if (!prop) return null;
  let nullable = false;
  const alts = prop.anyOf || (prop.oneOf && !prop.oneOf.every(isConst) ? prop.oneOf : null);
  if (alts) {
    const nonNull = alts.filter((a) => a.type !== "null");
    nullable = nonNull.length < alts.length;
    if (nonNull.length !== 1) return null;
    prop = { ...resolveRef(schema, nonNull[0]), description: prop.description, default: prop.default, title: prop.title };
  }
  let type = prop.type;
  if (Array.isArray(type)) {
    nullable = nullable || type.includes("null");
    const rest = type.filter((t) => t !== "null");
    if (rest.length !== 1) return null;
    type = rest[0];
  }
  let options = null;
  if (Array.isArray(prop.enum)) options = prop.enum.filter((v) => v !== null).map((v) => ({ value: v, help: "" }));
  else if (Array.isArray(prop.oneOf) && prop.oneOf.every(isConst)) {
    options = prop.oneOf.map((o) => ({ value: o.const ?? o.enum[0], help: o.description || "" }));
  }
  if (options) return { ...prop, input: "enum", options, nullable };
  if (type === "integer" || type === "number" || type === "boolean" || type === "string") {
    return { ...prop, input: type, nullable };
  }
  return null;
}

function isConst(o) {
  return o && ("const" in o || (Array.isArray(o.enum) && o.enum.length === 1));
}

// ---- parameter inputs ----------------------------------------------------------------------

function selected() {
  const value = $("detector-select").value || "";
  const [type, ...rest] = value.split(":");
  const name = rest.join(":");
  return type === "preset" ? { preset: presets.get(name), name } : { kind: kinds.get(name), name };
}

function renderParams(initialSpec) {
  const box = $("detector-params");
  fields = [];
  const legend = el("legend", {}, "Parameters");
  const sel = selected();
  const summary = $("detector-summary");

  if (sel.preset) {
    summary.replaceChildren(...withCode(sel.preset.description || sel.preset.title || ""));
    box.replaceChildren(legend, ...presetOverrides(sel.preset));
    return;
  }
  const det = sel.kind;
  if (!det) {
    summary.textContent = "";
    box.replaceChildren(legend);
    return;
  }
  summary.replaceChildren(...withCode([det.summary, det.score_scale ? `Score: ${det.score_scale}.` : ""].filter(Boolean).join(" ")));
  const schema = det.params_schema || {};
  const root = resolveRef(schema, schema) || {};
  const props = root.properties || {};
  const primary = [];
  const advanced = [];
  for (const [name, raw] of Object.entries(props)) {
    if (name === "kind") continue;
    const desc = describeProp(schema, raw);
    // Web runs are batch runs: parameters of the streaming form only would do nothing here.
    if (!desc || /^streaming( form)? only/i.test(desc.description || "")) continue;
    const def = det.defaults && name in det.defaults ? det.defaults[name] : desc.default;
    const value = initialSpec && name in initialSpec ? initialSpec[name] : def;
    const node = field(name, desc, def, value);
    (PRIMARY.includes(name) ? primary : advanced).push(node);
  }
  if (primary.length < 2 && advanced.length) primary.push(...advanced.splice(0, 2 - primary.length));
  const children = [legend];
  if (det.kind === "ensemble") children.push(ensembleMembers(initialSpec));
  children.push(el("div", { class: "param-grid" }, primary));
  if (advanced.length) {
    children.push(el("details", { class: "more-params" },
      el("summary", {}, `More parameters (${advanced.length})`),
      el("div", { class: "param-grid" }, advanced)));
  }
  if (children.length === 2 && !primary.length) children.push(el("p", { class: "help" }, "No parameters."));
  box.replaceChildren(...children);
}

function field(name, desc, def, value, { label, help, override = false } = {}) {
  const id = `param-${name}`;
  const helpId = `${id}-help`;
  const text = help ?? desc.description ?? "";
  const first = text.split(/(?<=\.)\s/)[0];
  let input;
  if (desc.input === "boolean") {
    input = el("input", { type: "checkbox", id, "data-testid": id, "aria-describedby": helpId });
    input.checked = Boolean(value);
  } else if (desc.input === "enum") {
    input = el("select", { id, "data-testid": id, "aria-describedby": helpId },
      desc.nullable ? el("option", { value: "" }, "(default)") : null,
      desc.options.map((o) => el("option", { value: JSON.stringify(o.value), title: o.help }, String(o.value) + (o.help ? `: ${o.help}` : ""))));
    input.value = value == null ? "" : JSON.stringify(value);
  } else if (desc.input === "string") {
    input = el("input", { type: "text", id, "data-testid": id, "aria-describedby": helpId, placeholder: def ?? "" });
    input.value = value ?? "";
  } else {
    const min = desc.minimum ?? (desc.exclusiveMinimum != null ? desc.exclusiveMinimum : null);
    input = el("input", {
      type: "number", id, "data-testid": id, "aria-describedby": helpId,
      step: desc.input === "integer" ? 1 : "any",
      min, max: desc.maximum ?? null,
      placeholder: def == null ? (desc.nullable ? "auto" : "") : String(def),
      inputmode: desc.input === "integer" ? "numeric" : "decimal",
    });
    input.value = value == null ? "" : String(value);
  }
  const error = el("span", { class: "field-error", id: `${id}-error` });
  fields.push({ name, input, type: desc.input, def, nullable: desc.nullable, override, desc, error });
  input.addEventListener("input", () => validateField(fields.find((f) => f.input === input)));
  const labelText = label ?? name.replace(/_/g, " ");
  const defText = def == null ? (desc.nullable ? "default: auto" : "") : `default: ${typeof def === "number" ? fmtNum(def) : def}`;
  if (desc.input === "boolean") {
    return el("div", { class: "field check" },
      el("label", { for: id }, input, " ", labelText),
      el("p", { class: "help", id: helpId, title: text.replaceAll("`", "") }, withCode(first)), error);
  }
  return el("div", { class: "field" },
    el("label", { for: id }, labelText, defText ? el("span", { class: "default" }, defText) : null),
    input,
    el("p", { class: "help", id: helpId, title: text.replaceAll("`", "") }, withCode(first)),
    error);
}

function presetOverrides(preset) {
  const spec = preset.spec || {};
  const members = spec.kind === "ensemble" && Array.isArray(spec.members) ? spec.members : [spec];
  const nodes = [];
  for (const name of OVERRIDABLE) {
    const having = [];
    let desc = null;
    for (const m of members) {
      const det = kinds.get(m.kind);
      if (!det) continue;
      const schema = det.params_schema || {};
      const root = resolveRef(schema, schema) || {};
      const raw = root.properties?.[name];
      if (!raw) continue;
      const own = describeProp(schema, raw);
      desc = desc || own;
      const value = m[name] ?? det.defaults?.[name] ?? own?.default;
      having.push({ kind: m.kind, value, desc: own });
    }
    if (!having.length || !desc) continue;
    const values = [...new Set(having.map((h) => h.value))];
    // Members that share a value share one field; where they differ (an LSTM's window of 32
    // and Benford's of 200 mean different things), each member gets its own `kind.name` field.
    const groups = values.length === 1 ? [{ key: name, label: name, members: having }]
      : having.map((h) => ({ key: `${h.kind}.${name}`, label: `${name} (${h.kind})`, members: [h] }));
    for (const g of groups) {
      const def = g.members[0].value;
      const help = g.members.length > 1
        ? `Overrides ${name} for every member that has it: ${g.members.map((h) => h.kind).join(", ")}.`
        : `${g.members[0].desc?.description || desc.description || ""}`; // each member's own words
      const node = field(g.key, { ...desc, nullable: true }, def, null, { label: g.label, help, override: true });
      const input = node.querySelector("input");
      if (input) input.placeholder = String(def ?? "auto");
      nodes.push(node);
    }
  }
  if (!nodes.length) return [el("p", { class: "help" }, "This preset has no tunable parameters.")];
  return [el("p", { class: "help" }, "Leave a field empty to keep the preset's value."), el("div", { class: "param-grid" }, nodes)];
}

function ensembleMembers(initialSpec) {
  const chosen = new Set((initialSpec?.members || []).map((m) => m.kind));
  const candidates = [...kinds.values()].filter((d) => d.kind !== "ensemble");
  if (!chosen.size) candidates.filter((d) => !d.neural).slice(0, 2).forEach((d) => chosen.add(d.kind));
  return el("div", { class: "field members", role: "group", "aria-labelledby": "members-label" },
    el("span", { class: "label", id: "members-label" }, "Members (each with its default parameters)"),
    el("div", { class: "member-choices" }, candidates.map((d) => {
      const id = `member-${d.kind}`;
      const box = el("input", { type: "checkbox", id, "data-testid": id, value: d.kind, class: "member-box" });
      box.checked = chosen.has(d.kind);
      return el("label", { for: id, class: "member-choice" }, box, ` ${d.kind}`);
    })));
}

function parseField(f) {
  const inp = f.input;
  if (f.type === "boolean") return { value: inp.checked };
  const text = inp.value.trim();
  if (text === "") return { value: null, empty: true };
  if (f.type === "enum") return { value: JSON.parse(text) };
  if (f.type === "string") return { value: text };
  const num = Number(text);
  if (!Number.isFinite(num)) return { error: "not a number" };
  if (f.type === "integer" && !Number.isInteger(num)) return { error: "must be a whole number" };
  const { minimum, maximum, exclusiveMinimum } = f.desc;
  if (minimum != null && num < minimum) return { error: `must be at least ${minimum}` };
  if (exclusiveMinimum != null && num <= exclusiveMinimum) return { error: `must be above ${exclusiveMinimum}` };
  if (maximum != null && num > maximum) return { error: `must be at most ${maximum}` };
  return { value: num };
}

function validateField(f) {
  if (!f) return true;
  const r = parseField(f);
  f.error.textContent = r.error || "";
  f.input.setAttribute("aria-invalid", r.error ? "true" : "false");
  return !r.error;
}

/**
 * The run request's `detector`, `threshold`, `train` and `save_model`; throws Error with a
 * readable message when invalid.
 */
export function buildDetectorRequest() {
  const sel = selected();
  const problems = [];
  const values = {};
  for (const f of fields) {
    const r = parseField(f);
    validateField(f);
    if (r.error) problems.push(`${f.name}: ${r.error}`);
    else if (!r.empty && !sameValue(r.value, f.def)) values[f.name] = r.value;
    else if (!r.empty && f.override) values[f.name] = r.value;
  }
  let detector;
  if (sel.preset) {
    detector = { preset: sel.name };
    if (Object.keys(values).length) detector.overrides = values;
  } else {
    detector = { kind: sel.name, ...values };
    if (sel.name === "ensemble") {
      const members = [...document.querySelectorAll(".member-box:checked")].map((b) => ({ kind: b.value }));
      if (members.length < 2) problems.push("members: pick at least two detectors for an ensemble");
      detector.members = members;
    }
  }

  const method = $("threshold-method").value;
  const meta = THRESHOLD_PARAM[method];
  const raw = $("threshold-value").value.trim();
  const v = Number(raw);
  let threshold;
  if (raw === "") threshold = thresholdDefault(method);
  else if (!Number.isFinite(v)) problems.push(`threshold ${meta.key}: not a number`);
  else if ((method === "quantile" || method === "sensitivity") && !(v > 0 && v < 1)) problems.push(`threshold ${meta.key}: must be strictly between 0 and 1`);
  else if (method === "auto" && !(v > 1)) problems.push("threshold N: must be more than 1 point per false alarm");
  else if (v < 0) problems.push(`threshold ${meta.key}: must be at least 0`);
  else threshold = { method, [meta.key]: v };

  const training = buildTrain(problems);
  if (problems.length) throw new Error(`Please fix: ${problems.join("; ")}.`);
  // A saved model brings its own detector.
  return training.model_id ? { threshold, ...training } : { detector, threshold, ...training };
}

function sameValue(a, b) {
  if (a == null && b == null) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Puts a past run's detector and threshold back into the form, so it can be tweaked and re-run. */
export function applyRunToForm(run) {
  const select = $("detector-select");
  if (!catalog || !run) return;
  const spec = run.detector || {};
  const preset = run.preset || spec.preset;
  if (preset && presets.has(preset)) {
    select.value = `preset:${preset}`;
    renderParams();
    const over = spec.overrides || {};
    for (const f of fields) if (over[f.name] != null) f.input.value = String(over[f.name]);
  } else if (spec.kind && kinds.has(spec.kind)) {
    select.value = `kind:${spec.kind}`;
    renderParams(spec);
  }
  if (run.threshold?.method && THRESHOLD_PARAM[run.threshold.method]) setThresholdMethod(run.threshold.method, run.threshold);
  const t = run.training || {};
  if (t.source === "prefix" && t.until != null) {
    $("train-mode").value = "until";
    renderTrainMode();
    let u = String(t.until).trim().replace(" ", "T").replace(/Z$/, "");
    if (/^\d{4}-\d{2}-\d{2}$/.test(u)) u += "T00:00";
    $("train-until").value = hasTime() ? u.slice(0, 19) : String(t.until);
  } else if (t.source === "prefix" && t.prefix_rows) {
    $("train-mode").value = "rows";
    $("train-rows").value = String(t.prefix_rows);
  } else if ((t.source === "dataset" && t.dataset_id) || (t.source === "model" && t.model_id)) {
    $("train-mode").value = t.source;
    fillTrainPicker(t.source === "dataset" ? t.dataset_id : t.model_id);
  } else {
    $("train-mode").value = "all";
  }
  $("save-model").checked = false;
  renderTrainMode();
}
