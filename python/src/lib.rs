//! `tsad._tsad`: the Rust half of the `tsad` Python package. It converts numpy arrays and JSON
//! specs into tsad-engine and tsad-io calls and their results back; the detection itself is the
//! engine's, unchanged. The Python half (`tsad/__init__.py`) adds pandas and dict handling.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Mutex;
use tsad_core::{EventOptions, FitContext, OnlineModel, Series, Threshold};
use tsad_engine::{Detection, DetectorSpec, EngineError, FittedModel, Training};
use tsad_io::{ColumnRef, IngestOptions};

create_exception!(
    _tsad,
    TsadError,
    PyValueError,
    "A detection, spec or input that tsad rejected. The message is tsad's own (the same as the \
     CLI's and the API's); `code` is the API's error code (`invalid_config`, `invalid_parameter`, \
     `invalid_series`, `not_enough_data`, `invalid_csv`, ...)."
);

/// A tsad error as a Python exception carrying its message and code.
fn py_error(py: Python<'_>, code: &str, message: String) -> PyErr {
    let err = TsadError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail in practice; if it did,
    // the exception without `code` is still the right one to raise.
    let _ = err.value(py).setattr("code", code);
    err
}

fn engine_error(py: Python<'_>, e: EngineError) -> PyErr {
    py_error(py, e.code(), e.to_string())
}

fn core_error(py: Python<'_>, e: tsad_core::Error) -> PyErr {
    engine_error(py, EngineError::from(e))
}

/// Parses a JSON argument the Python half serialised (a spec, threshold or event options).
fn json_arg(py: Python<'_>, name: &str, text: &str) -> PyResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| py_error(py, "invalid_parameter", format!("{name}: not JSON: {e}")))
}

/// A detector spec from JSON: a spec object (`{"kind": "mad", ...}`, `{"preset": ...}`), or
/// `null` for the default spec. Returns the spec and the preset it came from.
fn spec_arg(py: Python<'_>, text: &str) -> PyResult<(DetectorSpec, Option<String>)> {
    let value = json_arg(py, "detector", text)?;
    let value = match value {
        Value::Null => json!({"preset": tsad_engine::DEFAULT_PRESET}),
        other => other,
    };
    tsad_engine::parse_spec(&value).map_err(|e| engine_error(py, e))
}

/// A threshold from JSON: `null` for the default (`auto`), a method name, or an object whose
/// missing parameter takes the method's default (`{"method": "sigma"}` is k = 3).
fn threshold_arg(py: Python<'_>, text: &str) -> PyResult<Threshold> {
    let value = json_arg(py, "threshold", text)?;
    let bad = |reason: String| py_error(py, "invalid_parameter", format!("threshold: {reason}"));
    let methods = tsad_engine::catalog().thresholds;
    let names = || {
        methods
            .iter()
            .map(|t| t.method)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (method, given) = match &value {
        Value::Null => return Ok(Threshold::default()),
        Value::String(m) => (m.clone(), serde_json::Map::new()),
        Value::Object(o) => match o.get("method").and_then(Value::as_str) {
            Some(m) => (m.to_owned(), o.clone()),
            None => return Err(bad(format!("needs a \"method\" ({})", names()))),
        },
        other => {
            return Err(bad(format!(
                "expected a method name or a dict with \"method\", got {other}"
            )));
        }
    };
    let Some(info) = methods.iter().find(|t| t.method == method) else {
        return Err(bad(format!(
            "unknown method `{method}`; expected one of {}",
            names()
        )));
    };
    let mut full = serde_json::to_value(info.default).map_err(|e| bad(e.to_string()))?;
    if let Some(o) = full.as_object_mut() {
        o.extend(given);
    }
    let threshold: Threshold = tsad_core::from_json(&full).map_err(bad)?;
    threshold.validate().map_err(|e| core_error(py, e))?;
    Ok(threshold)
}

fn events_arg(py: Python<'_>, text: &str) -> PyResult<EventOptions> {
    let value = json_arg(py, "events", text)?;
    if value.is_null() {
        return Ok(EventOptions::default());
    }
    let options: EventOptions = tsad_core::from_json(&value).map_err(|e| {
        py_error(
            py,
            "invalid_parameter",
            format!(
                "events: {e}; expected a dict with any of merge_gap, merge_gap_time, min_points, \
                 prune, standout, routine"
            ),
        )
    })?;
    options.validate().map_err(|e| core_error(py, e))?;
    Ok(options)
}

/// A series from numpy arrays: Unix-millisecond timestamps, or the row index when `None`.
fn series_arg(
    py: Python<'_>,
    values: &PyReadonlyArray1<'_, f64>,
    timestamps: Option<&PyReadonlyArray1<'_, i64>>,
) -> PyResult<Series> {
    let values = values.as_array().to_vec();
    match timestamps {
        Some(ts) => Series::new(ts.as_array().to_vec(), values),
        None => Series::from_values(values),
    }
    .map_err(|e| core_error(py, e))
}

fn array<'py>(py: Python<'py>, v: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    v.into_pyarray(py)
}

/// The per-point columns, events and facts of one detection, as a dict for the Python half.
fn detection_dict<'py>(
    py: Python<'py>,
    series: &Series,
    detection: Detection,
    spec: &DetectorSpec,
    preset: Option<&str>,
    threshold: &Threshold,
) -> PyResult<Bound<'py, PyDict>> {
    let n = detection.scores.len();
    let nan = || vec![f64::NAN; n];
    let quiet = tsad_engine::quiet(series, &detection.scores, &detection.cut, &detection.events);
    let info = json!({
        "detector": spec.to_json(),
        "preset": preset,
        "threshold": threshold,
        "threshold_rule": threshold.describe(),
        "scale": detection.cut.scale,
        "threshold_value": detection.cut.value.is_finite().then_some(detection.cut.value),
        "anomaly_count": detection.cut.count(),
        "event_count": detection.events.len(),
        "routine": detection.cut.routine,
        "quiet": quiet,
        "training": detection.training,
        "fit_seconds": detection.fit_seconds,
        "score_seconds": detection.score_seconds,
    });
    let events = serde_json::to_string(&detection.events).map_err(to_py)?;
    let report = serde_json::to_string(&detection.scores.report).map_err(to_py)?;
    let scores = detection.scores;
    let (lower, upper) = scores.band.unwrap_or_else(|| (nan(), nan()));
    let members = PyDict::new(py);
    for m in scores.members {
        members.set_item(m.name, array(py, m.normalized))?;
    }
    let out = PyDict::new(py);
    out.set_item("score", array(py, scores.score))?;
    out.set_item("rarity", array(py, scores.rarity.unwrap_or_else(nan)))?;
    out.set_item("expected", array(py, scores.expected.unwrap_or_else(nan)))?;
    out.set_item("lower", array(py, lower))?;
    out.set_item("upper", array(py, upper))?;
    out.set_item("anomaly", detection.cut.flags.into_pyarray(py))?;
    out.set_item("members", members)?;
    out.set_item("events", events)?;
    out.set_item("report", report)?;
    out.set_item("info", info.to_string())?;
    Ok(out)
}

fn to_py(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// detect(values, timestamps, detector, threshold, events, train_rows, train_values,
/// train_timestamps, train_until)
/// --
///
/// Fits `detector` and detects anomalies in one series (the engine's `detect_with`). Called
/// by `tsad.detect`, which documents the arguments; specs are JSON text here.
#[pyfunction]
#[pyo3(signature = (values, timestamps, detector, threshold, events, train_rows=None, train_values=None, train_timestamps=None, train_until=None))]
#[allow(clippy::too_many_arguments)]
fn detect<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timestamps: Option<PyReadonlyArray1<'py, i64>>,
    detector: &str,
    threshold: &str,
    events: &str,
    train_rows: Option<usize>,
    train_values: Option<PyReadonlyArray1<'py, f64>>,
    train_timestamps: Option<PyReadonlyArray1<'py, i64>>,
    train_until: Option<i64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (spec, preset) = spec_arg(py, detector)?;
    let threshold = threshold_arg(py, threshold)?;
    let options = events_arg(py, events)?;
    let series = series_arg(py, &values, timestamps.as_ref())?;
    let train =
        match &train_values {
            Some(v) => Some(series_arg(py, v, train_timestamps.as_ref()).map_err(|e| {
                py_error(py, "invalid_parameter", format!("train: {}", e.value(py)))
            })?),
            None => None,
        };
    let until_rows = train_until
        .map(|t| tsad_engine::rows_until(&series, t, "train"))
        .transpose()
        .map_err(|e| core_error(py, e))?;
    let training = match (&train, train_rows.or(until_rows)) {
        (Some(t), _) => Training::Separate(t),
        (None, Some(n)) => Training::Prefix(n),
        (None, None) => Training::Same,
    };
    // The GIL is released while the engine works, so other Python threads run meanwhile.
    let detection = py
        .detach(|| {
            tsad_engine::detect_with(
                &series,
                training,
                &spec,
                &threshold,
                &options,
                &FitContext::new(),
            )
        })
        .map_err(|e| engine_error(py, e))?;
    detection_dict(py, &series, detection, &spec, preset.as_deref(), &threshold)
}

/// A detector fitted on a training series, with the calibration of its scores: what
/// `tsad fit --save` writes and `tsad detect --model` reads. Create one with `tsad.fit` or
/// `tsad.Model.load`.
#[pyclass(name = "_Model", module = "tsad._tsad", frozen)]
struct PyModel {
    fitted: FittedModel,
}

#[pymethods]
impl PyModel {
    /// detect(values, timestamps, threshold, events)
    /// --
    ///
    /// Scores a series with this model and its calibration, then thresholds (the engine's
    /// `detect_fitted`). Called by `tsad.Model.detect`.
    fn detect<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
        timestamps: Option<PyReadonlyArray1<'py, i64>>,
        threshold: &str,
        events: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let threshold = threshold_arg(py, threshold)?;
        let options = events_arg(py, events)?;
        let series = series_arg(py, &values, timestamps.as_ref())?;
        let detection = py
            .detach(|| tsad_engine::detect_fitted(&series, &self.fitted, &threshold, &options))
            .map_err(|e| engine_error(py, e))?;
        detection_dict(py, &series, detection, self.fitted.spec(), None, &threshold)
    }

    /// The detector spec the model was fitted from, as JSON text.
    #[getter]
    fn spec_json(&self) -> String {
        self.fitted.spec().to_json().to_string()
    }

    /// Points the model was fitted on.
    #[getter]
    fn train_rows(&self) -> usize {
        self.fitted.train_rows()
    }

    /// to_bytes()
    /// --
    ///
    /// The model as tsad's versioned JSON model file (the bytes `tsad fit --save` writes).
    fn to_bytes(&self, py: Python<'_>) -> PyResult<Vec<u8>> {
        self.fitted.to_bytes().map_err(|e| engine_error(py, e))
    }

    /// save(path)
    /// --
    ///
    /// Writes the model file to `path`; `tsad detect FILE --model PATH` and `Model.load` read it.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let bytes = self.to_bytes(py)?;
        std::fs::write(&path, bytes).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!(
                "cannot write model file {}: {e}",
                path.display()
            ))
        })
    }

    /// from_bytes(data)
    /// --
    ///
    /// Loads a model file's bytes (written by `to_bytes`, `save` or `tsad fit --save`).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<PyModel> {
        let fitted = FittedModel::from_bytes(&data).map_err(|e| engine_error(py, e))?;
        Ok(PyModel { fitted })
    }

    /// load(path)
    /// --
    ///
    /// Loads a model file written by `save` or `tsad fit --save`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
        let data = std::fs::read(&path).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!(
                "cannot read model file {}: {e}",
                path.display()
            ))
        })?;
        let fitted = FittedModel::from_bytes(&data).map_err(|e| {
            py_error(
                py,
                e.code(),
                format!("cannot load model file {}: {e}", path.display()),
            )
        })?;
        Ok(PyModel { fitted })
    }

    fn __repr__(&self) -> String {
        format!(
            "tsad.Model(kind={:?}, train_rows={})",
            self.fitted.spec().kind(),
            self.fitted.train_rows()
        )
    }
}

/// fit(values, timestamps, detector)
/// --
///
/// Fits `detector` on a training series and calibrates it on the training part's scores (the
/// engine's `fit`). Called by `tsad.fit`.
#[pyfunction]
fn fit<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timestamps: Option<PyReadonlyArray1<'py, i64>>,
    detector: &str,
) -> PyResult<PyModel> {
    let (spec, _) = spec_arg(py, detector)?;
    let series = series_arg(py, &values, timestamps.as_ref())?;
    let fitted = py
        .detach(|| tsad_engine::fit(&series, &spec, &FitContext::new()))
        .map_err(|e| engine_error(py, e))?;
    Ok(PyModel { fitted })
}

/// A streaming scorer: one point in, its raw score out, computed from the points before it
/// only (the form `tsad eval nab` runs). Scores are the detector's raw scores, not calibrated
/// and not thresholded. Detectors without a streaming form are refused when it is created.
#[pyclass(name = "_Online", module = "tsad._tsad", frozen)]
struct PyOnline {
    kind: &'static str,
    // `OnlineModel` is `Send` but not `Sync`; the lock makes the object shareable between
    // Python threads (updates from two threads take turns).
    model: Mutex<Box<dyn OnlineModel>>,
}

#[pymethods]
impl PyOnline {
    /// Online(detector)
    /// --
    ///
    /// A fresh streaming scorer for `detector` (JSON text; `tsad.Online` accepts a kind name,
    /// a preset name or a dict).
    #[new]
    fn new(py: Python<'_>, detector: &str) -> PyResult<Self> {
        let (spec, _) = spec_arg(py, detector)?;
        let built = spec.build().map_err(|e| engine_error(py, e))?;
        let model = built.online().ok_or_else(|| {
            py_error(
                py,
                "invalid_config",
                format!(
                    "detector `{}` has no streaming form; use tsad.detect on the whole series",
                    spec.kind()
                ),
            )
        })?;
        Ok(PyOnline {
            kind: spec.kind(),
            model: Mutex::new(model),
        })
    }

    /// update(t, x)
    /// --
    ///
    /// Consumes the next point (`t` in Unix milliseconds or a row number, `x` its value, NaN
    /// for missing) and returns its score (NaN during warm-up or for a missing value).
    fn update(&self, t: i64, x: f64) -> f64 {
        self.lock().update(t, x)
    }

    /// update_many(ts, xs)
    /// --
    ///
    /// `update` for each point in order; returns their scores. Same as calling `update` once
    /// per point.
    fn update_many<'py>(
        &self,
        py: Python<'py>,
        ts: PyReadonlyArray1<'py, i64>,
        xs: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        if ts.len()? != xs.len()? {
            return Err(py_error(
                py,
                "invalid_series",
                format!("{} timestamps but {} values", ts.len()?, xs.len()?),
            ));
        }
        let (ts, xs) = (ts.as_array().to_vec(), xs.as_array().to_vec());
        let scores = py.detach(|| self.lock().update_all(&ts, &xs));
        Ok(array(py, scores))
    }

    /// The detector kind.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn __repr__(&self) -> String {
        format!("tsad.Online(kind={:?})", self.kind)
    }
}

impl PyOnline {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn OnlineModel>> {
        // A panic inside a detector's update poisons the lock; its state is then suspect, but
        // the next update reporting that again would only hide the first error.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// read_csv(path, time_column, value_column, no_time_column, decimal)
/// --
///
/// Reads a CSV with tsad's own ingest (delimiter, header, columns and time format detected;
/// the CLI's reader). Called by `tsad.read_csv`.
#[pyfunction]
#[pyo3(signature = (path, time_column=None, value_column=None, no_time_column=false, decimal=None))]
fn read_csv<'py>(
    py: Python<'py>,
    path: PathBuf,
    time_column: Option<String>,
    value_column: Option<String>,
    no_time_column: bool,
    decimal: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let column = |c: String| c.parse::<ColumnRef>().unwrap_or(ColumnRef::Name(c));
    let decimal = decimal
        .map(|d| d.parse())
        .transpose()
        .map_err(|e: String| py_error(py, "invalid_parameter", format!("decimal: {e}")))?;
    let options = IngestOptions {
        time_column: time_column.map(column),
        value_column: value_column.map(column),
        no_time_column,
        decimal,
        source_name: Some(path.display().to_string()),
        ..IngestOptions::default()
    };
    let ingested = py
        .detach(|| tsad_io::read_path(&path, &options))
        .map_err(|e| engine_error(py, e.into()))?;
    let diagnostics = serde_json::to_string(&ingested.diagnostics).map_err(to_py)?;
    let axis = serde_json::to_value(ingested.series.axis()).map_err(to_py)?;
    let (timestamps, values, _) = ingested.series.into_parts();
    let out = PyDict::new(py);
    out.set_item("timestamps", timestamps.into_pyarray(py))?;
    out.set_item("values", array(py, values))?;
    out.set_item("time_axis", axis.as_str().unwrap_or_default())?;
    out.set_item("time_column", ingested.time_column)?;
    out.set_item("value_column", ingested.value_column)?;
    out.set_item("diagnostics", diagnostics)?;
    Ok(out)
}

/// demo(points, seed)
/// --
///
/// The synthetic demo series (`tsad demo`): Unix-millisecond timestamps (hourly from
/// 2024-01-01), values and the injected anomalies' labels.
#[pyfunction]
#[pyo3(signature = (points=2000, seed=42))]
fn demo(py: Python<'_>, points: usize, seed: u64) -> PyResult<Bound<'_, PyDict>> {
    let params = tsad_io::demo::DemoParams {
        points,
        seed,
        ..Default::default()
    };
    let demo = tsad_io::demo::generate(&params).map_err(|e| core_error(py, e))?;
    let (timestamps, values, _) = demo.series.into_parts();
    let out = PyDict::new(py);
    out.set_item("timestamps", timestamps.into_pyarray(py))?;
    out.set_item("values", array(py, values))?;
    out.set_item("labels", demo.labels.into_pyarray(py))?;
    Ok(out)
}

/// parse_spec(detector)
/// --
///
/// Checks a detector spec (JSON text) as the CLI and API do, listing every problem, and
/// returns it with every default written out (JSON text).
#[pyfunction]
fn parse_spec(py: Python<'_>, detector: &str) -> PyResult<String> {
    let (spec, _) = spec_arg(py, detector)?;
    Ok(spec.to_json().to_string())
}

/// check(detector, threshold, events)
/// --
///
/// Raises what `detect` would for this spec, threshold and event options (JSON text), without
/// data: `tsad.spark` checks them on the driver before any task starts.
#[pyfunction]
fn check(py: Python<'_>, detector: &str, threshold: &str, events: &str) -> PyResult<()> {
    spec_arg(py, detector)?;
    threshold_arg(py, threshold)?;
    events_arg(py, events)?;
    Ok(())
}

/// catalog()
/// --
///
/// Detector kinds with their parameters and defaults, presets and thresholds (JSON text; the
/// API's `GET /api/v1/detectors`).
#[pyfunction]
fn catalog() -> PyResult<String> {
    serde_json::to_string(&tsad_engine::catalog()).map_err(to_py)
}

/// parse_time(text)
/// --
///
/// Unix milliseconds of a time written as tsad reads timestamps (`2014-02-07`,
/// `2014-02-07T14:30:00Z`, ...; no zone = UTC), or None when it is no time.
#[pyfunction]
fn parse_time(text: &str) -> Option<i64> {
    tsad_io::parse_time(text)
}

/// The native module. Its functions take specs as JSON text and arrays of the exact dtypes;
/// `tsad/__init__.py` is the public interface.
#[pymodule]
fn _tsad(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TsadError", m.py().get_type::<TsadError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyModel>()?;
    m.add_class::<PyOnline>()?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(read_csv, m)?)?;
    m.add_function(wrap_pyfunction!(demo, m)?)?;
    m.add_function(wrap_pyfunction!(parse_spec, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(catalog, m)?)?;
    m.add_function(wrap_pyfunction!(parse_time, m)?)?;
    Ok(())
}
