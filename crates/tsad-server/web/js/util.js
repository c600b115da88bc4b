// Small shared helpers: DOM building, number/time formatting, debouncing.

/** Creates an element: el("td", {class: "num", dataset: {x: 1}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

/** The catalog's prose (written as in the docs) as nodes: `backticked` words become <code>
 * elements; text with an unpaired backtick stays plain. */
export function withCode(text) {
  const parts = String(text ?? "").split("`");
  if (parts.length % 2 === 0) return [parts.join("`")];
  return parts.map((part, i) => (i % 2 ? el("code", {}, part) : part)).filter((p) => p !== "");
}

export function show(node, visible = true) {
  node.classList.toggle("hidden", !visible);
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A number with about 4 significant digits; "–" for null/NaN. */
export function fmtNum(x, digits = 4) {
  if (x == null || typeof x !== "number" || !Number.isFinite(x)) return "–";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  // 1,000,000 rather than 1.00e+6: exponents only beyond what grouped digits read well.
  if (abs >= 1e15 || abs < 1e-3) return x.toExponential(2);
  if (abs >= 1e4) return Math.round(x).toLocaleString("en-US");
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return Number(x.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}

export function fmtInt(x) {
  return x == null ? "–" : Number(x).toLocaleString("en-US");
}

export function fmtPercent(x) {
  return x == null || !Number.isFinite(x) ? "–" : `${Math.round(x * 100)}%`;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** Unix ms -> "2014-07-01 12:00" (UTC; seconds shown only when present). */
export function fmtTime(ms, timeAxis) {
  if (ms == null) return "–";
  if (timeAxis !== "epoch_millis") return `#${fmtInt(ms)}`;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  let s = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (d.getUTCSeconds() || d.getUTCMilliseconds()) s += `:${pad(d.getUTCSeconds())}`;
  if (d.getUTCMilliseconds()) s += `.${pad(d.getUTCMilliseconds(), 3)}`;
  return s;
}

/** Milliseconds -> "3 h 20 min". */
export function fmtDuration(ms) {
  if (ms == null || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toPrecision(3))} s`;
  const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const parts = [];
  let rest = Math.round(s);
  for (const [name, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

export function fmtSeconds(s) {
  if (s == null || !Number.isFinite(s)) return "";
  if (s < 1) return "under a second";
  return fmtDuration(s * 1000);
}

export function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** RFC 3339 -> "5 min ago" / date. */
export function fmtAgo(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = (Date.now() - t) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 10);
}

/** Readable name of a detector spec: "hybrid-benford", "mad (window 48)". */
export function specLabel(run) {
  if (run.preset) return run.preset;
  const spec = run.detector || {};
  if (spec.preset) return spec.preset;
  if (spec.kind === "ensemble" && Array.isArray(spec.members)) {
    return `ensemble ${spec.policy || ""}: ${spec.members.map((m) => m.kind || m.preset).join(" + ")}`;
  }
  return spec.kind || "detector";
}

export function thresholdLabel(t) {
  if (!t) return "";
  switch (t.method) {
    case "auto": return "auto";
    case "sigma": return `σ k = ${fmtNum(t.k)}`;
    case "robust": return `robust k = ${fmtNum(t.k)}`;
    case "quantile": return `quantile q = ${fmtNum(t.q)}`;
    case "sensitivity": return `sensitivity ${fmtNum(t.s)}`;
    default: return t.method || "";
  }
}

/** "snake_case_name" -> "Snake case name". */
export function humanize(key) {
  const s = String(key).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// ---- the calibrated thresholds: `auto` {every} and `sensitivity` {s} ------------------------

/** Sensitivity s in (0, 1) -> points of normal data per false alarm (the engine's mapping). */
export function everyFromSensitivity(s) {
  return 10 ** (1 + 8 * (1 - s));
}

/** Points per false alarm -> sensitivity s, clamped to the slider's 0.01..0.99. */
export function sensitivityFromEvery(every) {
  const s = 1 - (Math.log10(every) - 1) / 8;
  return Math.min(0.99, Math.max(0.01, s));
}

/** The points per false alarm of a threshold (auto or sensitivity), else null. */
export function everyOf(t) {
  if (t?.method === "auto" && Number.isFinite(t.every)) return t.every;
  if (t?.method === "sensitivity" && Number.isFinite(t.s)) return everyFromSensitivity(t.s);
  return null;
}

/** 100000 -> "100,000"; 1202264 -> "1,200,000" (two significant digits above 100). */
export function fmtEvery(every) {
  if (every == null || !Number.isFinite(every)) return "–";
  const r = every >= 100 ? Number(every.toPrecision(2)) : Math.round(every);
  return r.toLocaleString("en-US");
}

const SPANS = [
  ["year", 365.25 * 86400e3],
  ["month", 30.44 * 86400e3],
  ["week", 7 * 86400e3],
  ["day", 86400e3],
  ["hour", 3600e3],
  ["minute", 60e3],
  ["second", 1e3],
];

/** A duration in the largest unit that reads well: "11 years", "1.2 days", "40 minutes". */
export function fmtSpan(ms) {
  if (ms == null || !Number.isFinite(ms) || ms <= 0) return null;
  for (const [unit, size] of SPANS) {
    const n = ms / size;
    if (n >= 1.5 || unit === "second") {
      const v = n >= 10 ? Math.round(n).toLocaleString("en-US") : String(Number(n.toPrecision(2)));
      return `${v} ${unit}${v === "1" ? "" : "s"}`;
    }
  }
  return null;
}

/**
 * "about 1 false alarm per 100,000 points of normal data (about 1 per 11 years at this series'
 * step)"; the part in brackets only when the series has timestamps (stepMs).
 */
export function everyWords(every, stepMs) {
  const base = `about 1 false alarm per ${fmtEvery(every)} points of normal data`;
  const span = stepMs ? fmtSpan(every * stepMs) : null;
  return span ? `${base} (about 1 per ${span} at this series' step)` : base;
}

/** The threshold in words, for the UI; the server's `threshold_rule` when given. */
export function ruleWords(t, stepMs, serverRule) {
  const every = everyOf(t);
  if (every != null) return everyWords(every, stepMs);
  return serverRule || thresholdLabel(t);
}
