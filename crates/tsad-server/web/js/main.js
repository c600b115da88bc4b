// Wiring: loads the catalog and the history, opens the dataset/run named in the URL hash, runs
// detections, and owns the single error banner.

import { api } from "./api.js";
import { $, show } from "./util.js";
import { initDatasets, showDataset, currentDataset, columnChoice, setColumnChoice, refreshDatasetList, onListChanges } from "./datasets.js";
import { initDetectorForm, buildDetectorRequest, applyRunToForm, setTrainingDataset, refreshTrainPicker } from "./detector.js";
import { watchRun, showRunState, refreshRunList, isTerminal, onRunListChanges } from "./runs.js";
import { initResults, showResults, hideResults, eventAt } from "./results.js";
import { showFleet, hideFleet } from "./fleet.js";
import { initChat } from "./chat.js";

const state = { runId: null, parentId: null, stopWatching: null, catalogReady: false };

// ---- errors ---------------------------------------------------------------------------------

function showError(err, context) {
  const message = err?.message || String(err);
  $("error-text").textContent = context ? `${context}: ${message}` : message;
  $("error-banner").dataset.code = err?.code || "";
  show($("error-banner"), true);
}

function clearError() {
  show($("error-banner"), false);
  $("error-text").textContent = "";
}

// ---- URL hash: #dataset=<id>&run=<id>[&compare=<id>] ----------------------------------------
// (`compare` is written by compare.js and kept while the same run stays open.)

function readHash() {
  const q = new URLSearchParams(location.hash.replace(/^#/, ""));
  return { dataset: q.get("dataset"), run: q.get("run") };
}

function writeHash() {
  const q = new URLSearchParams();
  const ds = currentDataset();
  if (ds) q.set("dataset", ds.id);
  if (state.runId) q.set("run", state.runId);
  const before = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (state.runId && before.get("run") === state.runId && before.get("compare")) q.set("compare", before.get("compare"));
  const next = q.toString() ? `#${q}` : "";
  if (location.hash !== next) history.replaceState(null, "", next || location.pathname);
}

// ---- lists ----------------------------------------------------------------------------------

function refreshLists() {
  refreshDatasetList(currentDataset()?.id, (id) => openDataset(id).catch((e) => showError(e, "Could not open the dataset")));
  refreshRunList(state.runId, (run) => openRun(run.id).catch((e) => showError(e, "Could not open the run")));
  refreshTrainPicker();
}

// ---- datasets and runs ----------------------------------------------------------------------

function stopWatching() {
  state.stopWatching?.();
  state.stopWatching = null;
}

function onDatasetOpened(ds) {
  stopWatching();
  state.runId = null;
  hideResults();
  hideFleet();
  showRunState(null);
  showDataset(ds);
  setTrainingDataset(ds);
  updateRunButton();
  writeHash();
  refreshLists();
}

async function openDataset(id) {
  clearError();
  const ds = await api.getDataset(id);
  onDatasetOpened(ds);
  return ds;
}

async function openRun(id) {
  clearError();
  const run = await api.getRun(id);
  if (currentDataset()?.id !== run.dataset_id) {
    const ds = await api.getDataset(run.dataset_id);
    stopWatching();
    hideResults();
    hideFleet();
    showDataset(ds);
    setTrainingDataset(ds);
  }
  // One series of a many-series run keeps the form as its parent run set it.
  if (!run.parent_id) setColumnChoice(run.time_column, run.value_column, run.fleet);
  applyRunToForm(run);
  state.runId = run.id;
  writeHash();
  follow(run);
  refreshLists();
}

function follow(run) {
  stopWatching();
  showRunState(run);
  updateRunButton();
  if (isTerminal(run)) {
    finished(run);
    return;
  }
  hideResults();
  hideFleet();
  let lastStatus = run.status;
  state.stopWatching = watchRun(run, {
    onProgress: (r) => {
      if (state.runId !== run.id) return;
      showRunState(r);
      if (r.status !== lastStatus) {
        lastStatus = r.status;
        refreshLists(); // queued -> running in the sidebar
      }
    },
    onDone: (final) => {
      state.stopWatching = null;
      if (state.runId !== run.id) return;
      finished(final);
      refreshLists();
    },
  });
}

function finished(run) {
  showRunState(run);
  updateRunButton();
  state.parentId = run.parent_id || null;
  show($("series-bar"), Boolean(run.parent_id));
  $("series-name").textContent = run.series || "";
  if (run.status === "succeeded" && run.fleet) {
    hideResults();
    showFleet(run, (id) => openRun(id).catch((e) => showError(e, "Could not open the series")))
      .then(() => $("fleet").scrollIntoView({ behavior: "smooth", block: "start" }))
      .catch((err) => showError(err, "Could not list the series"));
  } else if (run.status === "succeeded") {
    hideFleet();
    showResults(run)
      .then(() => $("results").scrollIntoView({ behavior: "smooth", block: "start" }))
      .catch((err) => showError(err, "Could not show the results"));
  } else {
    hideResults();
    hideFleet();
  }
}

async function startRun(e) {
  e.preventDefault();
  clearError();
  const ds = currentDataset();
  if (!ds) {
    showError(new Error("Load the demo or a CSV first."));
    return;
  }
  let req;
  try {
    req = buildDetectorRequest();
  } catch (err) {
    showError(err);
    return;
  }
  const button = $("run-button");
  button.disabled = true;
  try {
    const run = await api.createRun({ dataset_id: ds.id, ...columnChoice(), ...req });
    state.runId = run.id;
    writeHash();
    follow(run);
    refreshLists();
  } catch (err) {
    showError(err, "Could not start the run");
  } finally {
    updateRunButton();
  }
}

async function cancelRun() {
  if (!state.runId) return;
  try {
    const run = await api.cancelRun(state.runId);
    if (isTerminal(run)) {
      stopWatching();
      finished(run);
    }
    refreshLists();
  } catch (err) {
    showError(err, "Could not cancel the run");
  }
}

function updateRunButton() {
  $("run-button").disabled = !(state.catalogReady && currentDataset());
}

async function openFromHash() {
  const { dataset, run } = readHash();
  try {
    if (run) await openRun(run);
    else if (dataset) await openDataset(dataset);
  } catch (err) {
    showError(err, run ? "Could not reopen the run in the address" : "Could not reopen the dataset in the address");
    history.replaceState(null, "", location.pathname);
  }
}

// ---- rename and delete from the sidebar -----------------------------------------------------

function closeRun() {
  stopWatching();
  state.runId = null;
  state.parentId = null;
  hideResults();
  hideFleet();
  show($("series-bar"), false);
  showRunState(null);
}

async function listChanged(kind, id, deleted) {
  if (deleted && kind === "dataset" && currentDataset()?.id === id) {
    closeRun();
    showDataset(null);
    updateRunButton();
  } else if (deleted && kind === "run" && (state.runId === id || state.parentId === id)) {
    closeRun();
  } else if (!deleted && kind === "dataset" && currentDataset()?.id === id) {
    showDataset(await api.getDataset(id));
  }
  writeHash();
  refreshLists();
}

// ---- start ----------------------------------------------------------------------------------

async function start() {
  $("error-close").addEventListener("click", clearError);
  const handlers = { onChanged: (kind, id, deleted) => listChanged(kind, id, deleted).catch((e) => showError(e)), onError: showError };
  onListChanges(handlers);
  onRunListChanges(handlers);
  initDatasets({ onOpen: onDatasetOpened, onError: showError, clearError });
  initResults({ onError: showError, onThresholdChanged: () => refreshLists() });
  initChat({ eventAt });
  $("detector-form").addEventListener("submit", startRun);
  $("cancel-button").addEventListener("click", cancelRun);
  $("fleet-back").addEventListener("click", () => {
    if (state.parentId) openRun(state.parentId).catch((e) => showError(e, "Could not open the run"));
  });
  window.addEventListener("hashchange", () => {
    const { dataset, run } = readHash();
    if (run !== state.runId || dataset !== (currentDataset()?.id ?? null)) openFromHash();
  });

  api.health().then((h) => {
    $("server-status").textContent = h ? `tsad ${h.version || ""}` : "server unreachable";
  });

  try {
    initDetectorForm(await api.detectors());
    state.catalogReady = true;
  } catch (err) {
    showError(err, "Could not load the detector catalog");
  }
  updateRunButton();
  refreshLists();
  await openFromHash();
  document.body.dataset.ready = "true";
}

start();
