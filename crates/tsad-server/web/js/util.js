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
  if (abs >= 1e6 || abs < 1e-3) return x.toExponential(2);
  if (Number.isInteger(x) && abs < 1e6) return x.toLocaleString("en-US");
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
