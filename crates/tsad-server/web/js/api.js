// Thin fetch wrappers over the REST API (docs/API.md). Every failure becomes an ApiError whose
// message is the server's own `{"error":{"code","message"}}` text, so callers can show it as is.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function errorFrom(res) {
  let code = "http_" + res.status;
  let message = `${res.status} ${res.statusText || "error"}`;
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    if (text && text.length < 300) message = text;
  }
  if (res.status === 413 && code.startsWith("http_")) {
    code = "payload_too_large";
    message = "The file is larger than the server accepts.";
  }
  return new ApiError(res.status, code, message);
}

async function send(method, path, { json, form, signal, raw } = {}) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "Cannot reach the tsad server. Is it still running?");
  }
  if (!res.ok) throw await errorFrom(res);
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

const enc = encodeURIComponent;

export const api = {
  health: () => fetch("/healthz").then((r) => (r.ok ? r.json() : null)).catch(() => null),

  listDatasets: () => send("GET", "/datasets"),
  getDataset: (id) => send("GET", `/datasets/${enc(id)}`),
  deleteDataset: (id) => send("DELETE", `/datasets/${enc(id)}`),
  renameDataset: (id, name) => send("PATCH", `/datasets/${enc(id)}`, { json: { name } }),
  renameRun: (id, name) => send("PATCH", `/runs/${enc(id)}`, { json: { name } }),
  createDemo: () => send("POST", "/datasets/demo", { json: {} }),
  uploadCsv(file, decimal = "") {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("name", file.name);
    if (decimal) form.append("decimal", decimal);
    return send("POST", "/datasets", { form });
  },

  detectors: () => send("GET", "/detectors"),

  listRuns: (datasetId) => send("GET", "/runs" + (datasetId ? `?dataset_id=${enc(datasetId)}` : "")),
  getRun: (id) => send("GET", `/runs/${enc(id)}`),
  createRun: (body) => send("POST", "/runs", { json: body }),
  cancelRun: (id) => send("POST", `/runs/${enc(id)}/cancel`, { json: {} }),
  deleteRun: (id) => send("DELETE", `/runs/${enc(id)}`),
  compareRuns: (id, other) => send("GET", `/runs/${enc(id)}/compare?with=${enc(other)}`),
  runMarks: (id) => send("GET", `/runs/${enc(id)}/marks`),
  createMark: (id, body) => send("POST", `/runs/${enc(id)}/marks`, { json: body }),
  updateMark: (id, body) => send("PATCH", `/marks/${enc(id)}`, { json: body }),
  deleteMark: (id) => send("DELETE", `/marks/${enc(id)}`),
  runSeries: (id, query) => {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== ""));
    return send("GET", `/runs/${enc(id)}/series?${q}`);
  },
  progressUrl: (id) => `${BASE}/runs/${enc(id)}/progress`,
  downloadUrl: (id, format) => `${BASE}/runs/${enc(id)}/download?format=${enc(format)}`,

  points(id, { from, to, maxPoints, signal } = {}) {
    const q = new URLSearchParams();
    if (from != null) q.set("from", String(Math.floor(from)));
    if (to != null) q.set("to", String(Math.ceil(to)));
    if (maxPoints) q.set("max_points", String(maxPoints));
    return send("GET", `/runs/${enc(id)}/points?${q}`, { signal });
  },
  /** Re-thresholds a run; the answer lists every event (limit 0), most severe first. */
  /** `events` (optional): new event options, sent whole (options left out take their defaults). */
  previewThreshold: (id, threshold, events, signal) => send("POST", `/runs/${enc(id)}/threshold`, { json: { threshold, events, limit: 1, preview: true }, signal }),
  threshold: (id, threshold, events, signal) => send("POST", `/runs/${enc(id)}/threshold`, { json: { threshold, events, limit: 0 }, signal }),
  modelDownloadUrl: (id) => `${BASE}/models/${enc(id)}/download`,
  getModel: (id) => send("GET", `/models/${enc(id)}`),
  listModels: () => send("GET", "/models"),

  explain: (id, n) => send("POST", `/runs/${enc(id)}/events/${n}/explain`, { json: {} }),

  /**
   * Chat, streamed when the server streams. `onDelta(text)` gets each chunk; resolves to
   * `{answer, provider}` either way.
   */
  async chat(id, body, onDelta) {
    const res = await send("POST", `/runs/${enc(id)}/chat`, { json: { ...body, stream: true }, raw: true });
    const type = res.headers.get("Content-Type") || "";
    if (!type.includes("text/event-stream") || !res.body) {
      const out = await res.json();
      if (out && out.answer) onDelta(out.answer);
      return out;
    }
    let answer = "";
    let provider = null;
    for await (const { event, data } of sseEvents(res.body)) {
      const payload = parseMaybeJson(data);
      if (event === "delta" || event === "message") {
        const chunk = typeof payload === "string" ? payload : (payload.delta ?? payload.text ?? payload.content ?? "");
        answer += chunk;
        onDelta(chunk);
      } else if (event === "done") {
        if (payload && typeof payload === "object") {
          provider = payload.provider ?? provider;
          if (!answer && payload.answer) {
            answer = payload.answer;
            onDelta(answer);
          }
        }
      } else if (event === "error") {
        const msg = typeof payload === "string" ? payload : (payload.error?.message ?? payload.message ?? "the provider failed");
        throw new ApiError(502, payload.error?.code ?? "provider", msg);
      }
    }
    return { answer, provider };
  },
};

function parseMaybeJson(data) {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/** Parses a server-sent-events byte stream into {event, data} records. */
async function* sseEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}
