"""tsad: anomaly detection for time series, from Python.

The detectors, calibration, thresholds and events are tsad's Rust engine, the same code the
``tsad`` command line and web server run; this package converts numpy arrays, pandas objects
and dict specs to and from it. Specs are the JSON the CLI and the REST API take
(``{"kind": "mad", "window": 96}``, ``{"preset": "nab-best"}``); a kind or preset name alone
works too.

    >>> import tsad
    >>> demo = tsad.demo()                       # the synthetic demo series, as a DataFrame
    >>> result = tsad.detect(demo["value"], timestamps=demo["timestamp"], train=200)
    >>> result.events[0]["start_time"]           # doctest: +SKIP

``tsad.spark`` runs the same detection per series on a PySpark DataFrame.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

from . import _tsad
from ._tsad import TsadError

__version__ = _tsad.__version__
__all__ = [
    "Detection",
    "Model",
    "Online",
    "TsadError",
    "catalog",
    "demo",
    "detect",
    "detect_frame",
    "fit",
    "parse_spec",
    "read_csv",
]

Spec = Union[None, str, Mapping[str, Any]]
ThresholdSpec = Union[None, str, Mapping[str, Any]]


# --- conversions -------------------------------------------------------------------------------


_NULLABLE = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
             "Float32", "Float64"}


def _values(values: Any, name: str = "values") -> np.ndarray:
    """A 1-D float64 array from numbers (numpy, pandas, lists); None/NaN are missing values."""
    if hasattr(values, "to_numpy") and str(getattr(values, "dtype", "")) in _NULLABLE:
        # pandas' nullable dtypes: <NA> becomes NaN, a missing value.
        values = values.to_numpy(dtype="float64", na_value=np.nan)
    if hasattr(values, "columns") and getattr(values, "ndim", 1) == 2:
        raise TypeError(
            f"{name} is a DataFrame; give one column (df[\"value\"]), or use "
            "tsad.detect_frame(df, time_col=..., value_col=...)"
        )
    arr = np.asarray(values)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be numbers; got objects that are not (first: {arr.flat[0]!r})"
                if arr.size
                else f"{name} must be numbers"
            ) from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be numbers (an integer or float array), got dtype {arr.dtype}"
        )
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _timestamps(timestamps: Any, name: str = "timestamps") -> Optional[np.ndarray]:
    """Unix milliseconds (int64) from datetimes (numpy, pandas, tz-aware or naive = UTC) or
    integers (taken as Unix milliseconds, as in the REST API); None = the row index."""
    if timestamps is None:
        return None
    if hasattr(timestamps, "dt") and getattr(timestamps.dt, "tz", None) is not None:
        timestamps = timestamps.dt.tz_convert("UTC").dt.tz_localize(None)
    elif hasattr(timestamps, "tz") and getattr(timestamps, "tz", None) is not None:
        timestamps = timestamps.tz_convert("UTC").tz_localize(None)
    arr = np.asarray(timestamps)
    if arr.dtype == object:
        arr = _object_times(arr, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            raise ValueError(f"{name} has a missing time (NaT) at position {int(np.isnat(arr).argmax())}")
        return np.ascontiguousarray(arr.astype("datetime64[ms]").astype(np.int64))
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.int64)
    raise TypeError(
        f"{name} must be datetimes or integers (Unix milliseconds), got dtype {arr.dtype}"
    )


def _index_times(values: Any, timestamps: Any) -> Any:
    """``timestamps``, or when None the DatetimeIndex of a pandas Series of values."""
    index = getattr(values, "index", None)
    if timestamps is None and getattr(getattr(index, "dtype", None), "kind", "") == "M":
        return index
    return timestamps


def _is_time(t: Any) -> bool:
    """Whether ``t`` names a moment (text, a datetime or date, numpy datetime64)."""
    return isinstance(t, (str, datetime.date, np.datetime64))


def _time_ms(t: Any, name: str) -> int:
    """Unix milliseconds of a moment: text as tsad reads timestamps (no zone = UTC), a
    datetime (naive = UTC), a date (its midnight, UTC) or numpy datetime64."""
    if isinstance(t, str):
        ms = _tsad.parse_time(t)
        if ms is None:
            raise ValueError(
                f"{name}: {t!r} is not a time; write it like '2014-02-07' or "
                "'2014-02-07T14:30:00Z'"
            )
        return ms
    if isinstance(t, datetime.date) and not isinstance(t, datetime.datetime):
        t = datetime.datetime(t.year, t.month, t.day)
    return _one_timestamp(t)


def _object_times(arr: np.ndarray, name: str) -> np.ndarray:
    """datetime64 from an object array of datetimes (tz-aware ones converted to UTC)."""
    try:
        import pandas as pd

        return pd.to_datetime(arr, utc=True).tz_localize(None).to_numpy()
    except ImportError:
        pass
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be datetimes or integers (Unix milliseconds), got objects"
        ) from None
    try:
        return arr.astype("datetime64[ms]")
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be datetimes or integers (Unix milliseconds), got objects"
        ) from None


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _one_timestamp(t: Any) -> int:
    """Unix milliseconds of one time: an integer as it is, a datetime (naive = UTC)."""
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        return int(t)
    if isinstance(t, np.datetime64):
        return int(t.astype("datetime64[ms]").astype(np.int64))
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        return (t - _EPOCH) // datetime.timedelta(milliseconds=1)
    raise TypeError(f"t must be a datetime or an integer (Unix milliseconds), got {t!r}")


def _spec_json(detector: Spec) -> str:
    """A spec as JSON text: a dict as given, a name as a preset when one has it, else a kind."""
    if detector is None:
        return "null"
    if isinstance(detector, str):
        presets = {p["name"] for p in _catalog()["presets"]}
        key = "preset" if detector in presets else "kind"
        return json.dumps({key: detector})
    if isinstance(detector, Mapping):
        return json.dumps(dict(detector))
    raise TypeError(
        "detector must be a kind or preset name (str) or a spec dict such as "
        f"{{'kind': 'mad', 'window': 96}}, got {type(detector).__name__}"
    )


def _threshold_json(threshold: ThresholdSpec) -> str:
    if threshold is None or isinstance(threshold, str):
        return json.dumps(threshold)
    if isinstance(threshold, Mapping):
        return json.dumps(dict(threshold))
    raise TypeError(
        "threshold must be a method name ('auto', 'sigma', 'robust', 'quantile', "
        f"'sensitivity') or a dict such as {{'method': 'sigma', 'k': 4}}, got {type(threshold).__name__}"
    )


def _events_json(events: Optional[Mapping[str, Any]]) -> str:
    if events is not None and not isinstance(events, Mapping):
        raise TypeError(f"events must be a dict of event options, got {type(events).__name__}")
    return json.dumps(None if events is None else dict(events))


_CATALOG: Optional[Dict[str, Any]] = None


def _catalog() -> Dict[str, Any]:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = json.loads(_tsad.catalog())
    return _CATALOG


# --- results -----------------------------------------------------------------------------------


class Detection:
    """What one detection produced.

    Per point (numpy arrays, one entry per input point): ``score`` (the detector's raw score,
    NaN where undefined), ``rarity`` (calibrated: -log10 of how often normal data scores as
    high), ``expected``, ``lower`` and ``upper`` (NaN when the detector has none), ``anomaly``
    (bool: inside a surviving event). ``members`` maps each ensemble member to its normalised
    scores. ``events`` is a list of dicts (start/end/peak as positions, ``*_time`` in Unix
    milliseconds or row numbers, ``peak_score``, ``rarity``, ``severity``, ``rank``,
    ``direction``, ``actual``, ``expected``, member shares), in time order. ``report`` is the
    detector's own report and ``diagnostics`` the run's facts (spec, threshold and its value,
    training part, timings). ``routine`` lists the events set aside as the series' routine
    (recurring at one time of the hour, day or week; ``events={"routine": False}`` keeps them
    as events). ``quiet`` says, when no event was kept, why and what would show one (None when
    there are events): ``{"reason": "below_cut", "index", "time", "rarity", "score", "every"}``
    names the rarest point and the ``threshold={"method": "auto", "every": ...}`` that flags
    points about that rare; ``"nothing_stands_out"`` that no point does; ``"events_dropped"``
    that points passed the cut-off but the event options dropped every event.
    """

    def __init__(self, raw: Dict[str, Any], timestamps: Optional[np.ndarray], values: np.ndarray):
        self.score: np.ndarray = raw["score"]
        self.rarity: np.ndarray = raw["rarity"]
        self.expected: np.ndarray = raw["expected"]
        self.lower: np.ndarray = raw["lower"]
        self.upper: np.ndarray = raw["upper"]
        self.anomaly: np.ndarray = raw["anomaly"]
        self.members: Dict[str, np.ndarray] = dict(raw["members"])
        self.events: List[Dict[str, Any]] = json.loads(raw["events"])
        self.report: Dict[str, Any] = json.loads(raw["report"])
        self.diagnostics: Dict[str, Any] = json.loads(raw["info"])
        # Events set aside as the series' routine (recurring at one time of the hour, day or
        # week), each with ``period``, ``events`` and a ``summary`` in words.
        self.routine: List[Dict[str, Any]] = self.diagnostics.get("routine", [])
        # Why no event was kept, and what would show one; None when there are events.
        self.quiet: Optional[Dict[str, Any]] = self.diagnostics.get("quiet")
        self.timestamps = timestamps
        self.values = values

    def __len__(self) -> int:
        return len(self.score)

    def __repr__(self) -> str:
        d = self.diagnostics
        return (
            f"<tsad.Detection {len(self)} points, detector {d['detector']['kind']}, "
            f"{d['anomaly_count']} anomalous points in {d['event_count']} events>"
        )

    def to_pandas(self):
        """The per-point columns as a pandas DataFrame indexed by time (a DatetimeIndex in UTC
        for Unix-millisecond timestamps, the row number otherwise)."""
        import pandas as pd

        data = {
            "value": self.values,
            "score": self.score,
            "rarity": self.rarity,
            "expected": self.expected,
            "lower": self.lower,
            "upper": self.upper,
            "anomaly": self.anomaly,
        }
        for name, scores in self.members.items():
            data[f"score_{name}"] = scores
        index = (
            pd.to_datetime(self.timestamps, unit="ms", utc=True)
            if self.timestamps is not None
            else pd.RangeIndex(len(self))
        )
        index.name = "timestamp" if self.timestamps is not None else "row"
        return pd.DataFrame(data, index=index)

    def events_to_pandas(self):
        """The events as a pandas DataFrame, one row each, with times as UTC datetimes when the
        series had timestamps."""
        import pandas as pd

        frame = pd.DataFrame(
            self.events,
            columns=[
                "rank", "start", "end", "peak", "start_time", "end_time", "peak_time",
                "peak_score", "rarity", "severity", "flagged", "direction", "actual",
                "expected", "members",
            ],
        )
        if self.timestamps is not None:
            for col in ("start_time", "end_time", "peak_time"):
                frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
        return frame


# --- detection ---------------------------------------------------------------------------------


def detect(
    values: Any,
    timestamps: Any = None,
    detector: Spec = None,
    threshold: ThresholdSpec = None,
    train: Any = None,
    train_timestamps: Any = None,
    events: Optional[Mapping[str, Any]] = None,
) -> Detection:
    """Fits a detector and finds the anomalies in one series.

    Args:
        values: numbers (numpy array, pandas Series, list); NaN or None = missing. A pandas
            Series with a DatetimeIndex gives its index as ``timestamps`` when they are None.
        timestamps: datetimes (numpy datetime64, pandas, tz-aware converted to UTC) or integers
            taken as Unix milliseconds; strictly increasing. None: the row number is time.
        detector: a kind (``"mad"``), a preset (``"nab-best"``), a spec dict
            (``{"kind": "mad", "window": 96}``, ``{"preset": "hybrid-benford", "overrides":
            {"epochs": 5}}``) or None for the default (``robust-stats``).
        threshold: None for ``auto`` (about one false alarm per 100,000 normal points), a method
            name (``"sigma"``, ``"robust"``, ``"quantile"``, ``"sensitivity"``) with its default
            parameter, or a dict (``{"method": "auto", "every": 10000}``).
        train: what the detector learns normal from. None: the series itself; an int ``n``: its
            first ``n`` points; a time (``"2024-01-10"``, a datetime or date, numpy
            datetime64; needs timestamps): its points at or before that time, as ``tsad detect
            --train-until``; numbers (with ``train_timestamps``, or a pandas Series with a
            DatetimeIndex): another, normal series.
        events: event options (``merge_gap``, ``merge_gap_time``, ``min_points``, ``prune``,
            ``standout``, ``routine``).

    Returns:
        A :class:`Detection`.

    Raises:
        TypeError: values or timestamps of the wrong type.
        TsadError: (a ValueError) what tsad rejects, with its message and ``code``: an unknown
            detector or parameter, mismatched lengths, timestamps out of order, a series
            shorter than the detector needs.
    """
    v = _values(values)
    ts = _timestamps(_index_times(values, timestamps))
    kwargs: Dict[str, Any] = {}
    if train is not None:
        if isinstance(train, (int, np.integer)) and not isinstance(train, bool):
            if train < 0:
                raise ValueError(f"train: a row count must be 0 or more, got {train}")
            kwargs["train_rows"] = int(train)
        elif _is_time(train):
            if ts is None:
                raise ValueError(
                    f"train: {train!r} is a time, but the series has no timestamps; give "
                    "timestamps, or a number of points (train=n)"
                )
            kwargs["train_until"] = _time_ms(train, "train")
        else:
            kwargs["train_values"] = _values(train, "train")
            kwargs["train_timestamps"] = _timestamps(
                _index_times(train, train_timestamps), "train_timestamps"
            )
    raw = _tsad.detect(
        v, ts, _spec_json(detector), _threshold_json(threshold), _events_json(events), **kwargs
    )
    return Detection(raw, ts, v)


def detect_frame(
    df: Any,
    time_col: Optional[str] = None,
    value_col: Optional[str] = None,
    detector: Spec = None,
    threshold: ThresholdSpec = None,
    train: Any = None,
    events: Optional[Mapping[str, Any]] = None,
) -> Detection:
    """:func:`detect` on a pandas DataFrame's columns.

    ``value_col`` defaults to the only numeric column besides ``time_col``; ``time_col`` None
    uses a DatetimeIndex when the frame has one, else the row number. Rows are taken in the
    frame's order (sort them by time first).
    """
    if value_col is None:
        numeric = [
            c for c in df.columns
            if c != time_col and getattr(df[c].dtype, "kind", "O") in "iuf"
        ]
        if len(numeric) != 1:
            raise ValueError(
                f"value_col: name the column to analyse; numeric columns: {numeric}"
            )
        value_col = numeric[0]
    if value_col not in df.columns:
        raise KeyError(f"value_col {value_col!r} is not a column; columns: {list(df.columns)}")
    if time_col is not None:
        if time_col not in df.columns:
            raise KeyError(f"time_col {time_col!r} is not a column; columns: {list(df.columns)}")
        timestamps = df[time_col]
    elif getattr(df.index, "dtype", None) is not None and df.index.dtype.kind == "M":
        timestamps = df.index
    else:
        timestamps = None
    return detect(
        df[value_col], timestamps=timestamps, detector=detector, threshold=threshold,
        train=train, events=events,
    )


class Model:
    """A detector fitted on normal data, with its calibration: :func:`fit` makes one, ``save``
    writes the same versioned file as ``tsad fit --save`` (so ``tsad detect --model`` reads
    it), :meth:`load` reads one back."""

    def __init__(self, native: Any):
        self._native = native

    @property
    def spec(self) -> Dict[str, Any]:
        """The detector spec, every default written out."""
        return json.loads(self._native.spec_json)

    @property
    def train_rows(self) -> int:
        """Points the model was fitted on."""
        return self._native.train_rows

    def detect(
        self,
        values: Any,
        timestamps: Any = None,
        threshold: ThresholdSpec = None,
        events: Optional[Mapping[str, Any]] = None,
    ) -> Detection:
        """Scores a series with the fitted model and its calibration, then thresholds; arguments
        as :func:`detect`."""
        v = _values(values)
        ts = _timestamps(_index_times(values, timestamps))
        raw = self._native.detect(v, ts, _threshold_json(threshold), _events_json(events))
        return Detection(raw, ts, v)

    def to_bytes(self) -> bytes:
        """The model file's bytes (versioned JSON)."""
        return bytes(self._native.to_bytes())

    def save(self, path: Any) -> None:
        """Writes the model file to ``path``."""
        self._native.save(str(path))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        """A model from a model file's bytes."""
        return cls(_tsad._Model.from_bytes(bytes(data)))

    @classmethod
    def load(cls, path: Any) -> "Model":
        """A model from a file written by :meth:`save` or ``tsad fit --save``."""
        return cls(_tsad._Model.load(str(path)))

    def __repr__(self) -> str:
        return repr(self._native)


def fit(values: Any, timestamps: Any = None, detector: Spec = None) -> Model:
    """Fits ``detector`` on a normal (training) series and calibrates its scores; arguments as
    :func:`detect`. Use the returned :class:`Model` to detect in new data, or save it."""
    v = _values(values)
    ts = _timestamps(_index_times(values, timestamps))
    return Model(_tsad.fit(v, ts, _spec_json(detector)))


class Online:
    """A streaming scorer: each point is scored from the points before it only (the form
    ``tsad eval nab`` runs). Scores are the detector's raw scores, the same as
    :func:`detect`'s ``score`` for detectors whose batch form is causal (``zscore``, ``mad``
    with ``"season": False``, ``novelty``); they are not calibrated or thresholded.

    ``Online("mad")``, ``Online({"kind": "zscore", "window": 50})``, ``Online("nab-best")``.
    A detector with no streaming form raises :class:`TsadError`.
    """

    def __init__(self, detector: Spec):
        self._native = _tsad._Online(_spec_json(detector))

    @property
    def kind(self) -> str:
        """The detector kind."""
        return self._native.kind

    def update(self, t: Any, x: float) -> float:
        """Consumes the next point and returns its score (NaN during warm-up or when ``x`` is
        missing). ``t``: a datetime or Unix milliseconds (or a row number)."""
        return self._native.update(_one_timestamp(t), float(x))

    def update_many(self, ts: Any, xs: Any) -> np.ndarray:
        """:meth:`update` for each point in order; returns the scores as an array."""
        times = _timestamps(ts, "ts")
        if times is None:
            raise TypeError("ts must be datetimes or integers, got None")
        return self._native.update_many(times, _values(xs, "xs"))

    def __repr__(self) -> str:
        return f"tsad.Online(kind={self.kind!r})"


# --- data and specs ----------------------------------------------------------------------------


def read_csv(
    path: Any,
    time_column: Union[None, str, int] = None,
    value_column: Union[None, str, int] = None,
    no_time_column: bool = False,
    decimal: Optional[str] = None,
):
    """Reads a CSV with tsad's own reader, as ``tsad detect FILE`` does: delimiter, header,
    time and value columns, time format and decimal mark are detected unless given (columns
    by name or 0-based index). Returns a pandas DataFrame with ``timestamp`` (UTC datetimes; the
    row number when the file has no time column) and ``value`` (NaN = missing), sorted, one
    row per timestamp; ``df.attrs`` holds ``time_column``, ``value_column`` and tsad's
    ``diagnostics`` (rows read, rejected and duplicate rows, gaps, warnings).

    Raises:
        TsadError: with code ``invalid_csv`` when the file cannot be read as a series (the
            message names the line and column).
    """
    import pandas as pd

    raw = _tsad.read_csv(
        str(path),
        None if time_column is None else str(time_column),
        None if value_column is None else str(value_column),
        bool(no_time_column),
        decimal,
    )
    if raw["time_axis"] == "index":
        timestamp = raw["timestamps"]
    else:
        timestamp = pd.to_datetime(raw["timestamps"], unit="ms", utc=True)
    df = pd.DataFrame({"timestamp": timestamp, "value": raw["values"]})
    df.attrs["time_column"] = raw["time_column"]
    df.attrs["value_column"] = raw["value_column"]
    df.attrs["diagnostics"] = json.loads(raw["diagnostics"])
    return df


def demo(points: int = 2000, seed: int = 42):
    """The synthetic demo series (``tsad demo``): hourly from 2024-01-01 UTC, a daily and
    weekly season, and 11 injected anomalies after the first tenth. Returns a pandas DataFrame
    with ``timestamp``, ``value`` and ``is_anomaly``."""
    import pandas as pd

    raw = _tsad.demo(int(points), int(seed))
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(raw["timestamps"], unit="ms", utc=True),
            "value": raw["values"],
            "is_anomaly": raw["labels"],
        }
    )


def parse_spec(detector: Spec) -> Dict[str, Any]:
    """Checks a spec as the CLI and API do (every problem listed in one :class:`TsadError`) and
    returns it with every default written out."""
    return json.loads(_tsad.parse_spec(_spec_json(detector)))


def _check(detector: Spec, threshold: ThresholdSpec, events: Optional[Mapping[str, Any]]) -> None:
    """Raises what :func:`detect` would raise for this spec, threshold and event options."""
    _tsad.check(_spec_json(detector), _threshold_json(threshold), _events_json(events))


def catalog() -> Dict[str, Any]:
    """Detector kinds with their parameters and defaults, presets and thresholds (the API's
    ``GET /api/v1/detectors``)."""
    return json.loads(json.dumps(_catalog()))
