// Explanations and chat about a run's events (issue 5): "Explain" shows the server's evidence and
// plain-language explanation; the chat sends the history (and the selected event) and streams the
// answer. Until the server has these endpoints (404) the panel says so instead of breaking.

import { api } from "./api.js";
import { $, el, fmtNum, fmtTime, fmtDuration, humanize } from "./util.js";

const UNAVAILABLE = "Explanations are not available on this server yet.";

let run = null;
let history = [];
let eventIndex = null;
let busy = false;
let getEvent = () => null;
let timeAxis = "epoch_millis";

/** opts: {eventAt(n) -> Event, onClearEvent()} */
export function initChat(opts) {
  getEvent = opts.eventAt;
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  setProvider(null);
  refreshProvider();
  renderEventChip();
}

/** Asks the server who answers (GET /api/v1/llm) for the status line. */
async function refreshProvider() {
  try {
    const res = await fetch("/api/v1/llm", { headers: { Accept: "application/json" } });
    if (res.ok) setProvider((await res.json()).provider || null);
  } catch {
    // The line keeps saying it is shown after the first answer.
  }
}

export function setChatRun(r, axis) {
  if (run?.id !== r?.id) {
    history = [];
    $("chat-log").replaceChildren(intro());
  }
  run = r;
  timeAxis = axis || "epoch_millis";
  eventIndex = null;
  renderEventChip();
}

export function setChatEvent(n) {
  eventIndex = n;
  renderEventChip();
}

function intro() {
  return el("p", { class: "chat-intro muted" },
    "Select an event and press Explain, or ask a question such as “why is the biggest event anomalous?”. ",
    "Answers are grounded in evidence computed from this run.");
}

/** The server's number of the UI's event n (the UI lists events most severe first). */
function apiIndex(n) {
  if (n == null) return null;
  const e = getEvent(n);
  return Number.isInteger(e?.index) ? e.index : n;
}

function renderEventChip() {
  const box = $("chat-event");
  const e = eventIndex != null ? getEvent(eventIndex) : null;
  if (!e) {
    box.replaceChildren(el("span", { class: "muted" }, "About: the whole run"));
    return;
  }
  box.replaceChildren(
    el("span", {}, `About event ${eventIndex + 1} · ${fmtTime(e.start_time, timeAxis)}`),
    " ",
    el("button", { type: "button", class: "link-button", onclick: () => setChatEvent(null), "aria-label": "Ask about the whole run instead" }, "clear"));
}

function setProvider(provider) {
  const line = $("chat-provider");
  if (!provider) line.textContent = "Provider: shown after the first answer.";
  else if (provider === "offline") line.textContent = "Provider: offline (answers from the evidence; set TSAD_LLM_BASE_URL or GEMINI_API_KEY to use an LLM).";
  else line.textContent = `Provider: ${provider}`;
}

function append(node) {
  const log = $("chat-log");
  log.querySelector(".chat-intro")?.remove();
  log.append(node);
  log.scrollTop = log.scrollHeight;
  return node;
}

function message(role, text, extra) {
  return append(el("div", { class: `msg msg-${role}`, "data-testid": `chat-msg-${role}` },
    el("span", { class: "msg-role" }, role === "user" ? "You" : role === "assistant" ? "tsad" : "Note"),
    el("div", { class: "msg-text" }, text),
    extra || null));
}

function unavailable(err) {
  return err && (err.status === 404 || err.status === 405 || err.status === 501);
}

/** Asks the server to explain event n and shows the evidence. */
export async function explainEvent(n) {
  if (!run) return;
  setChatEvent(n);
  const pending = message("assistant", `Gathering evidence for event ${n + 1}…`);
  pending.classList.add("pending");
  try {
    const out = await api.explain(run.id, apiIndex(n));
    pending.remove();
    const text = out?.explanation || "The server returned no explanation.";
    const node = message("assistant", text, out?.evidence ? evidenceBlock(out.evidence) : null);
    node.setAttribute("data-testid", "explanation");
    history.push({ role: "assistant", content: `Explanation of event ${n + 1}: ${text}` });
  } catch (err) {
    pending.remove();
    message("note", unavailable(err) ? UNAVAILABLE : `Could not explain event ${n + 1}: ${err.message}`);
  }
}

async function send() {
  const input = $("chat-input");
  const text = input.value.trim();
  if (!text || busy || !run) return;
  input.value = "";
  message("user", text);
  await ask(text, false);
}

/**
 * Asks `text` (already shown) with the conversation so far, streaming the answer in; `offline`
 * asks for the answer from the evidence even when an LLM is configured. When the LLM fails, the
 * note gives its reason and offers the offline answer instead.
 */
async function ask(text, offline) {
  busy = true;
  $("chat-send").disabled = true;
  history.push({ role: "user", content: text });
  const answer = message("assistant", "");
  answer.classList.add("pending");
  const body = answer.querySelector(".msg-text");
  body.textContent = "…";
  let got = "";
  try {
    const context = $("chat-context").value.trim();
    const request = { messages: history, event: apiIndex(eventIndex), context: context || null, offline };
    const out = await api.chat(run.id, request, (chunk) => {
      got += chunk;
      body.textContent = got;
      $("chat-log").scrollTop = $("chat-log").scrollHeight;
    });
    const final = got || out?.answer || "(empty answer)";
    body.textContent = final;
    history.push({ role: "assistant", content: final });
    setProvider(out?.provider || null);
  } catch (err) {
    answer.remove();
    history.pop();
    if (unavailable(err)) {
      message("note", UNAVAILABLE);
    } else {
      const retry = offline ? null : el("button", {
        type: "button", class: "link-button", "data-testid": "chat-offline",
        onclick: () => { if (busy) return; retry.disabled = true; ask(text, true); },
      }, "Answer offline from the evidence instead");
      message("note", `The chat failed: ${err.message}`, retry);
    }
  } finally {
    answer.classList.remove("pending");
    busy = false;
    $("chat-send").disabled = false;
  }
}

// ---- evidence rendering (the shape is the server's; render whatever it holds) -------------

function evidenceBlock(evidence) {
  return el("details", { class: "evidence", open: true },
    el("summary", {}, "Evidence"),
    renderValue(evidence, "", 0));
}

function renderValue(value, key, depth) {
  if (value == null) return el("span", { class: "muted" }, "–");
  if (Array.isArray(value)) {
    if (!value.length) return el("span", { class: "muted" }, "none");
    if (value.every((v) => typeof v !== "object" || v == null)) return value.map((v) => scalar(v, key)).join(", ");
    return el("ul", { class: "ev-list" }, value.slice(0, 10).map((v) => el("li", {}, inline(v))));
  }
  if (typeof value === "object") {
    if (depth >= 2) return inline(value);
    return el("dl", { class: "kv" }, Object.entries(value).flatMap(([k, v]) => [
      el("dt", {}, humanize(k)),
      el("dd", {}, renderValue(v, k, depth + 1)),
    ]));
  }
  return scalar(value, key);
}

function inline(obj) {
  if (obj == null || typeof obj !== "object") return scalar(obj, "");
  // {name, share} and the like read best as "name 58%".
  if (typeof obj.name === "string") {
    const rest = Object.entries(obj).filter(([k]) => k !== "name");
    return [obj.name, ...rest.map(([k, v]) => (/share|fraction/.test(k) ? scalar(v, k) : `${humanize(k).toLowerCase()} ${scalar(v, k)}`))].join(" ");
  }
  return Object.entries(obj).map(([k, v]) => `${humanize(k).toLowerCase()} ${typeof v === "object" && v !== null ? JSON.stringify(v) : scalar(v, k)}`).join(", ");
}

function scalar(v, key) {
  if (v == null) return "–";
  if (typeof v === "number") {
    if (/(^|_)time$|_at$|^start$|^end$|^peak_time$/.test(key) && timeAxis === "epoch_millis" && v > 1e11) return fmtTime(v, timeAxis);
    if (/duration_ms$|_ms$/.test(key)) return fmtDuration(v);
    if (/share|fraction|percent/.test(key) && v <= 1) return `${Math.round(v * 100)}%`;
    return fmtNum(v);
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}
