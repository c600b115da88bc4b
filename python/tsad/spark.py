"""Anomaly detection for many series on Apache Spark.

Each series is one group of ``df.groupBy(series_col).applyInPandas(...)``: Spark ships the
group's rows to a Python worker as one pandas DataFrame, and the worker runs
:func:`tsad.detect` on it, the same code a laptop runs. Series are independent, so they spread
over every executor core; one series is never split.

Shipping the package to a cluster: every executor needs ``tsad`` importable by the Python
that runs its workers. Either install the wheel in the executors' environment (``pip install
tsad-*.whl`` in the image or a conda/venv environment, shipped with ``spark.archives`` /
``--archives env.tar.gz#env`` and ``PYSPARK_PYTHON=./env/bin/python``), or add the wheel to
``spark.submit.pyFiles`` (``--py-files tsad-0.1.0-cp311-...whl``: Spark puts it on the
workers' ``sys.path``; it holds a compiled extension, so it must match the executors' Python
version and platform, e.g. build it there with ``maturin build --release``).

Memory: a whole series is in one worker's memory at once, as Arrow data in and out, as pandas
frames and as tsad's copies. ``tsad.detect`` itself peaks at about 135 bytes a point above its
input for ``zscore`` and ``mad`` and about 205 for ``robust-stats`` (measured on 1,000,000
points: peak RSS of one process before and after the call, before its third member, ``level``,
joined it; that adds a score column and a few transient copies, not re-measured); the group's frames and Arrow batches
roughly double that (an estimate, not measured). Budget about 0.5 KB a point for each task
running at once, in the Python worker's memory (``spark.executor.memoryOverhead`` or
``spark.executor.pyspark.memory``, not the JVM heap): 1M-point series want about 0.5 GB per
core. Split longer histories by time yourself.

Timestamps: a ``TimestampType`` column is converted to UTC (set ``spark.sql.session.timeZone``
to ``UTC`` so Spark hands pandas UTC wall times); integer columns are taken as Unix
milliseconds, as in :func:`tsad.detect`; rows are sorted by time within each series.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import tsad

# The per-point output columns after the series, time and value columns.
_POINT_FIELDS = [
    ("score", "double"),
    ("rarity", "double"),
    ("expected", "double"),
    ("lower", "double"),
    ("upper", "double"),
    ("anomaly", "boolean"),
]

_EVENT_FIELDS = [
    ("rank", "long"),
    ("start", "long"),
    ("end", "long"),
    ("peak", "long"),
    ("start_time", "long"),
    ("end_time", "long"),
    ("peak_time", "long"),
    ("peak_score", "double"),
    ("rarity", "double"),
    ("severity", "double"),
    ("flagged", "long"),
    ("direction", "string"),
    ("actual", "double"),
    ("expected", "double"),
]


def _check_columns(df: Any, *cols: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the DataFrame; it has {df.columns}")


def _check_train(train: Any) -> None:
    if train is None:
        return
    if tsad._is_time(train):
        tsad._time_ms(train, "train")  # text that is no time fails here, before any task
        return
    if not isinstance(train, int) or isinstance(train, bool) or train < 0:
        raise ValueError(
            f"train: a number of points (0 or more) or a time, per series, got {train!r}"
        )


def _schema(df: Any, series_col: str, time_col: Optional[str], value_col: str, extra) -> str:
    """A DDL schema: the input's own series (and time, value) fields, then `extra`."""
    types = dict(df.dtypes)
    fields = [(series_col, types[series_col])]
    if time_col is not None:
        fields.append((time_col, types[time_col]))
    if value_col is not None:
        fields.append((value_col, types[value_col]))
    fields += list(extra)
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def _detect_group(pdf, time_col, value_col, detector, threshold, events, train):
    """tsad.detect on one group, rows sorted by time; returns (sorted frame, Detection)."""
    if time_col is not None:
        pdf = pdf.sort_values(time_col, kind="stable").reset_index(drop=True)
        timestamps = pdf[time_col]
    else:
        timestamps = None
    result = tsad.detect(
        pdf[value_col], timestamps=timestamps, detector=detector, threshold=threshold,
        events=events, train=train,
    )
    return pdf, result


def detect(
    df: Any,
    series_col: str,
    time_col: Optional[str],
    value_col: str,
    spec: tsad.Spec = None,
    threshold: tsad.ThresholdSpec = None,
    events: Optional[Mapping[str, Any]] = None,
    train: Any = None,
):
    """Per-point scores and flags for every series of a PySpark DataFrame.

    Args:
        df: one row per point, in long format: a series key, a time and a value column.
        series_col: the column naming the series (any type Spark can group by).
        time_col: a timestamp or integer (Unix milliseconds) column, or None for the row order
            within each group (only meaningful when Spark keeps it, e.g. a single partition).
        value_col: the numeric column to analyse.
        spec: the detector, as in :func:`tsad.detect` (a name or a spec dict).
        threshold: as in :func:`tsad.detect`.
        events: event options, as in :func:`tsad.detect`.
        train: fit each series on its first ``train`` points (in time order), or on its
            points at or before a time (``"2024-01-10"``, a datetime or date), instead of on the
            whole series, as ``train`` in :func:`tsad.detect`. A series that does not reach past
            the time fails the job with tsad's message and the series' key.

    Returns:
        A DataFrame with ``series_col``, ``time_col``, ``value_col`` and ``score``,
        ``rarity``, ``expected``, ``lower``, ``upper``, ``anomaly`` (NaN where a detector has no
        such column). A series tsad rejects (too short, say) fails the job with tsad's message
        and the series' key.
    """
    _check_columns(df, series_col, value_col, *([time_col] if time_col else []))
    # Check the spec, threshold and options here, on the driver: a typo fails before any task.
    tsad._check(spec, threshold, events)
    _check_train(train)
    schema = _schema(df, series_col, time_col, value_col, _POINT_FIELDS)
    cols = [series_col] + ([time_col] if time_col else []) + [value_col]

    def per_series(pdf):
        import pandas as pd

        key = pdf[series_col].iloc[0] if len(pdf) else None
        try:
            pdf, r = _detect_group(pdf, time_col, value_col, spec, threshold, events, train)
        except tsad.TsadError as e:
            raise tsad.TsadError(f"series {key!r}: {e}") from e
        out = {c: pdf[c] for c in cols}
        out.update(
            score=r.score, rarity=r.rarity, expected=r.expected, lower=r.lower, upper=r.upper,
            anomaly=r.anomaly,
        )
        return pd.DataFrame(out)

    return df.select(*cols).groupBy(series_col).applyInPandas(per_series, schema=schema)


def events(
    df: Any,
    series_col: str,
    time_col: Optional[str],
    value_col: str,
    spec: tsad.Spec = None,
    threshold: tsad.ThresholdSpec = None,
    events: Optional[Mapping[str, Any]] = None,
    train: Any = None,
):
    """The events of every series of a PySpark DataFrame, one row per event.

    Arguments as :func:`detect`. Returns a DataFrame with ``series_col`` and ``rank`` (1 = the
    series' most severe), ``start``/``end``/``peak`` (positions in the time-sorted series),
    ``start_time``/``end_time``/``peak_time`` (Unix milliseconds, or row numbers without a time
    column), ``peak_score``, ``rarity``, ``severity``, ``flagged``, ``direction``, ``actual`` and
    ``expected``.
    """
    _check_columns(df, series_col, value_col, *([time_col] if time_col else []))
    tsad._check(spec, threshold, events)
    _check_train(train)
    schema = _schema(df, series_col, None, None, _EVENT_FIELDS)
    cols = [series_col] + ([time_col] if time_col else []) + [value_col]
    options = events

    def per_series(pdf):
        import pandas as pd

        key = pdf[series_col].iloc[0] if len(pdf) else None
        try:
            _, r = _detect_group(pdf, time_col, value_col, spec, threshold, options, train)
        except tsad.TsadError as e:
            raise tsad.TsadError(f"series {key!r}: {e}") from e
        rows = [
            {name: ev.get(name) for name, _ in _EVENT_FIELDS} for ev in r.events
        ]
        frame = pd.DataFrame(rows, columns=[name for name, _ in _EVENT_FIELDS])
        frame.insert(0, series_col, pd.Series([key] * len(frame), dtype=pdf[series_col].dtype))
        return frame.astype({"expected": "float64", "rarity": "float64"})

    return df.select(*cols).groupBy(series_col).applyInPandas(per_series, schema=schema)
