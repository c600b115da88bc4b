// Runs: start one, follow its progress over server-sent events (polling if the stream breaks),
// show the progress bar and errors, and list past runs in the sidebar.

import { api } from "./api.js";
import { $, el, show, fmtNum, fmtInt, fmtSeconds, fmtAgo, specLabel, thresholdLabel } from "./util.js";
import { itemActions } from "./manage.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export const isTerminal = (run) => TERMINAL.has(run?.status);

/**
 * Follows a run until it ends. Calls onProgress(run-ish with .progress) and finally onDone(run).
 * Returns a function that stops watching (the run keeps going on the server).
 */
export function watchRun(run, { onProgress, onDone }) {
  let stopped = false;
  let source = null;
  let timer = null;
  const finish = (final) => {
    if (stopped) return;
    stop();
    onDone(final);
  };
  const poll = async () => {
    if (stopped) return;
    try {
      const r = await api.getRun(run.id);
      if (isTerminal(r)) return finish(r);
      onProgress(r);
    } catch {
      // The server may be restarting; keep trying quietly.
    }
    timer = setTimeout(poll, 1000);
  };
  const stop = () => {
    stopped = true;
    if (source) source.close();
    clearTimeout(timer);
  };

  if (typeof EventSource === "function") {
    source = new EventSource(api.progressUrl(run.id));
    source.addEventListener("progress", (e) => {
      try {
        onProgress({ ...run, status: "running", progress: JSON.parse(e.data) });
      } catch {
        /* ignore a malformed frame */
      }
    });
    source.addEventListener("done", (e) => {
      let final = null;
      try {
        final = JSON.parse(e.data);
      } catch {
        /* fall through to polling */
      }
      source.close();
      source = null;
      if (final && final.id) finish(final);
      else poll();
    });
    source.onerror = () => {
      // The stream broke before "done" (or the server closed it): switch to polling.
      if (source) source.close();
      source = null;
      if (!stopped && !timer) poll();
    };
  } else {
    poll();
  }
  return stop;
}

/** Shows a run's state in the progress area under the run button. */
export function showRunState(run) {
  const bar = $("progress-bar");
  const text = $("progress-text");
  const error = $("run-error");
  const running = run && !isTerminal(run);
  show($("cancel-button"), Boolean(running));
  $("run-button").classList.toggle("busy", Boolean(running));
  bar.classList.toggle("invisible", !running);
  show(error, false);
  if (run) document.body.dataset.runStatus = run.status;
  else delete document.body.dataset.runStatus;
  if (!run) {
    text.textContent = "";
    return;
  }
  if (run.status === "queued") {
    bar.removeAttribute("value");
    text.textContent = "Queued: waiting for a free worker…";
  } else if (run.status === "running") {
    const p = run.progress;
    if (p && Number.isFinite(p.fraction)) bar.value = Math.max(0, Math.min(1, p.fraction));
    else bar.removeAttribute("value");
    text.textContent = progressText(p);
  } else if (run.status === "succeeded") {
    bar.value = 1;
    const s = run.summary;
    text.textContent = s ? `Done in ${fmtSeconds((s.fit_seconds || 0) + (s.score_seconds || 0)) || "no time"}.` : "Done.";
  } else {
    text.textContent = "";
    const what = run.status === "cancelled" ? "The run was cancelled" : "The run failed";
    error.textContent = run.error?.message ? `${what}: ${run.error.message}` : `${what}.`;
    show(error, true);
  }
}

function progressText(p) {
  if (!p) return "Starting…";
  const parts = [];
  // Ensemble members report "<member>/<stage>" (e.g. "lstm_autoencoder/train").
  const cut = (p.stage || "").lastIndexOf("/");
  const member = cut > 0 ? p.stage.slice(0, cut) : null;
  const base = cut >= 0 ? p.stage.slice(cut + 1) : p.stage;
  const name = base === "train" ? "Training" : base === "score" ? "Scoring" : base === "fit" ? "Fitting" : base ? base[0].toUpperCase() + base.slice(1) : "Working";
  const stage = member ? `${name} ${member}` : name;
  if (base === "series") parts.push(`Series ${fmtInt(p.batch)} of ${fmtInt(p.batches)}`);
  else if (p.epoch != null && p.epochs) parts.push(`${stage}: epoch ${p.epoch}/${p.epochs}`);
  else parts.push(`${stage}…`);
  if (base !== "series" && p.batch != null && p.batches) parts.push(`batch ${p.batch}/${p.batches}`);
  if (p.train_loss != null) parts.push(`loss ${fmtNum(p.train_loss)}`);
  if (p.val_loss != null) parts.push(`val ${fmtNum(p.val_loss)}`);
  if (p.eta_seconds != null && Number.isFinite(p.eta_seconds)) parts.push(p.eta_seconds < 1 ? "almost done" : `about ${fmtSeconds(p.eta_seconds)} left`);
  return parts.join(" · ");
}

const STATUS_TEXT = { queued: "queued", running: "running", succeeded: "done", failed: "failed", cancelled: "cancelled" };

/** What the sidebar's rename and delete report to: onChanged(kind, id, deleted), onError. */
const manage = {};
export function onRunListChanges(handlers) {
  Object.assign(manage, handlers);
}

/** Sidebar list of runs. */
export async function refreshRunList(currentId, onPick) {
  const list = $("run-list");
  let data;
  try {
    data = await api.listRuns();
  } catch {
    list.replaceChildren(el("li", { class: "muted" }, "Could not load the list."));
    return [];
  }
  const runs = data?.runs || [];
  if (!runs.length) {
    list.replaceChildren(el("li", { class: "muted" }, "No runs yet."));
    return runs;
  }
  list.replaceChildren(...runs.map((r) => {
    const s = r.summary;
    const events = r.status === "succeeded" && s ? `${s.event_count ?? "?"} event${s.event_count === 1 ? "" : "s"}` : null;
    const result = events && r.fleet ? `${fmtInt(s.series)} series, ${events}` : events;
    const label = r.name || r.label || specLabel(r);
    const title = el("span", { class: "item-title" }, label,
      el("span", { class: `status status-${r.status}` }, STATUS_TEXT[r.status] || r.status));
    return el("li", {},
      el("button", {
        type: "button",
        class: r.id === currentId ? "item current" : "item",
        "aria-current": r.id === currentId ? "true" : null,
        "data-testid": "run-item",
        "data-id": r.id,
        "data-status": r.status,
        title: `${r.name ? `${r.name}: ` : ""}${r.label || specLabel(r)}; threshold ${thresholdLabel(r.threshold)}`,
        onclick: () => onPick(r),
      },
      title,
      el("span", { class: "item-meta" }, [r.name ? r.label || specLabel(r) : null, r.dataset_name, result, fmtAgo(r.created_at)].filter(Boolean).join(" · "))),
      itemActions({
        what: "run", name: label, title,
        rename: async (name) => {
          await api.renameRun(r.id, name);
          manage.onChanged?.("run", r.id, false);
        },
        remove: async () => {
          await api.deleteRun(r.id);
          manage.onChanged?.("run", r.id, true);
        },
        onError: (err, what) => manage.onError?.(err, what),
      }));
  }));
  return runs;
}
