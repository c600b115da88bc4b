"""The tsad package: numpy and pandas in and out, errors, streaming, models, and the same
results as the `tsad` CLI on the demo and on a NAB file."""

import datetime
import json
import math
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pytest

import tsad

SEED = 7
HOURS = pd.date_range("2024-01-01", periods=300, freq="h")


def noisy(n=1000, seed=SEED, spike_at=None):
    rng = np.random.default_rng(seed)
    values = 10 + rng.normal(size=n)
    if spike_at is not None:
        values[spike_at] += 12
    return values


# --- numpy ---------------------------------------------------------------------------------


def test_numpy_in_numpy_out():
    values = noisy(spike_at=700)
    r = tsad.detect(values, detector="mad")
    for name in ("score", "rarity", "expected", "lower", "upper"):
        column = getattr(r, name)
        assert isinstance(column, np.ndarray) and column.dtype == np.float64, name
        assert column.shape == (1000,), name
    assert r.anomaly.dtype == np.bool_ and r.anomaly.shape == (1000,)
    assert r.anomaly[700] and r.anomaly.sum() <= 3
    assert [e["peak"] for e in r.events] == [700]
    assert r.events[0]["direction"] == "up"
    assert r.diagnostics["detector"]["kind"] == "mad"
    assert r.diagnostics["anomaly_count"] == int(r.anomaly.sum())
    # mad has a rolling median as its expected value, and a band around it.
    assert np.isfinite(r.expected[-1]) and r.lower[-1] < r.expected[-1] < r.upper[-1]


def test_integer_lists_and_missing_values_are_accepted():
    ints = np.arange(300) % 7
    r = tsad.detect(ints, detector="zscore")
    assert len(r) == 300
    with_gap = list(noisy(300))
    with_gap[100] = None
    r = tsad.detect(with_gap, detector="zscore")
    assert math.isnan(r.score[100]) and not r.anomaly[100]
    nullable = pd.Series(ints, dtype="Int64")
    nullable[5] = pd.NA
    r = tsad.detect(nullable, detector="zscore")
    assert math.isnan(r.values[5]) and len(r) == 300


def test_threshold_forms():
    values = noisy(spike_at=500)
    by_name = tsad.detect(values, detector="zscore", threshold="sigma")
    by_dict = tsad.detect(values, detector="zscore", threshold={"method": "sigma", "k": 3})
    np.testing.assert_array_equal(by_name.anomaly, by_dict.anomaly)
    assert by_name.diagnostics["threshold"] == {"method": "sigma", "k": 3.0}
    loose = tsad.detect(values, detector="zscore", threshold={"method": "quantile", "q": 0.9})
    assert loose.anomaly.sum() > by_name.anomaly.sum()


def test_specs_are_the_cli_and_api_json():
    assert tsad.parse_spec({"kind": "mad", "window": 96})["window"] == 96
    assert tsad.parse_spec("nab-best")["kind"] == "novelty"  # a preset name
    assert tsad.parse_spec(None)["kind"] == "ensemble"  # the default, robust-stats
    kinds = [k["kind"] for k in tsad.catalog()["detectors"]]
    assert {"zscore", "mad", "seasonal", "novelty"} <= set(kinds)


def test_train_prefix_and_separate_series():
    values = noisy(1200, spike_at=1000)
    prefix = tsad.detect(values, detector="mad", train=300)
    assert prefix.diagnostics["training"]["source"] == "prefix"
    assert prefix.diagnostics["training"]["rows"] == 300
    separate = tsad.detect(values, detector="mad", train=noisy(400, seed=SEED + 1))
    assert separate.diagnostics["training"]["source"] == "series"
    assert separate.anomaly[1000]


def test_train_until_a_time_is_the_prefix_up_to_it():
    demo = tsad.demo(points=1500, seed=2)
    by_rows = tsad.detect(demo["value"], timestamps=demo["timestamp"], train=300)
    last = demo["timestamp"][299]  # the 300th point
    for until in [last, last.to_pydatetime(), last.isoformat(), np.datetime64(last.value, "ns")]:
        by_time = tsad.detect(demo["value"], timestamps=demo["timestamp"], train=until)
        assert by_time.diagnostics["training"]["prefix_rows"] == 300, until
        assert np.array_equal(by_time.anomaly, by_rows.anomaly)
    # A date is its midnight (UTC): the demo is hourly from 2024-01-01 00:00.
    day = tsad.detect(demo["value"], timestamps=demo["timestamp"], train=datetime.date(2024, 1, 11))
    assert day.diagnostics["training"]["prefix_rows"] == 241


def test_an_empty_answer_names_the_rarest_point_and_the_rate_that_flags_it():
    values = noisy(2000)
    values[1500] += 5.5
    quiet = tsad.detect(values, detector="mad")
    assert len(quiet.events) == 0, quiet.events
    assert quiet.quiet["reason"] == "below_cut"
    assert quiet.quiet["index"] == 1500 and quiet.quiet["time"] == 1500
    every = quiet.quiet["every"]
    assert every == 10 ** np.floor(quiet.quiet["rarity"])
    found = tsad.detect(values, detector="mad", threshold={"method": "auto", "every": every})
    assert any(e["start"] <= 1500 <= e["end"] for e in found.events)
    assert found.quiet is None


def test_a_nightly_job_is_routine_not_an_alarm():
    # Ten days every 5 minutes; a job lifts the value every night at 03:05 or 03:10 (the first
    # night is inside mad's warm-up), and one spike at noon on day 6.
    times = pd.date_range("2023-11-15", periods=2880, freq="5min", tz="UTC")
    values = noisy(2880) * 0.05 + 4.5
    for day in range(1, 10):
        values[day * 288 + 37 + day % 2] += 4
    values[6 * 288 + 144] += 6
    found = tsad.detect(values, timestamps=times, detector="mad")
    assert [e["peak"] for e in found.events] == [6 * 288 + 144]
    assert len(found.routine) == 1
    assert found.routine[0]["period"] == "day"
    assert found.routine[0]["summary"] == "9 events, every day between 03:05 and 03:10 UTC"
    flagged = tsad.detect(values, timestamps=times, detector="mad", events={"routine": False})
    assert len(flagged.events) == 10 and flagged.routine == []


# --- pandas --------------------------------------------------------------------------------


def test_pandas_series_frame_and_to_pandas():
    demo = tsad.demo(points=2000, seed=42)
    assert list(demo.columns) == ["timestamp", "value", "is_anomaly"]
    assert str(demo["timestamp"].dt.tz) == "UTC"
    r = tsad.detect_frame(demo, time_col="timestamp", value_col="value", train=200)
    frame = r.to_pandas()
    assert isinstance(frame.index, pd.DatetimeIndex) and len(frame) == 2000
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert {"value", "score", "rarity", "anomaly", "score_seasonal", "score_mad"} <= set(frame)
    events = r.events_to_pandas()
    assert len(events) == len(r.events) >= 1
    assert events["peak_time"].dt.tz is not None
    # The default detector finds most of the demo's injected anomalies when fitted on its
    # normal first tenth (the README's figure for 2,000 points is 9-11 of 11).
    labels = demo["is_anomaly"].to_numpy()
    hits = sum(labels[e["start"] : e["end"] + 1].any() for e in r.events)
    assert hits >= 8, r.events


def test_detect_frame_uses_a_datetime_index():
    demo = tsad.demo(points=500, seed=1).set_index("timestamp")
    r = tsad.detect_frame(demo[["value"]], detector="zscore")
    assert r.timestamps[0] == 1_704_067_200_000


def test_a_series_with_a_datetime_index_brings_its_times():
    demo = tsad.demo(points=800, seed=1)
    values = demo.set_index("timestamp")["value"]
    r = tsad.detect(values, detector="zscore", train="2024-01-05")
    assert r.timestamps[0] == 1_704_067_200_000
    assert r.diagnostics["training"]["prefix_rows"] == 97
    assert isinstance(r.to_pandas().index, pd.DatetimeIndex)
    model = tsad.fit(values[:300], detector="mad")
    assert model.detect(values).timestamps[-1] == r.timestamps[-1]
    # A separate training series brings its index too.
    separate = tsad.detect(values[400:], detector="mad", train=values[:400])
    assert separate.diagnostics["training"]["source"] == "series"


def test_tz_aware_timestamps_become_utc_milliseconds():
    ts = pd.date_range("2024-01-01 01:00", periods=300, freq="h", tz="Europe/Paris")
    r = tsad.detect(noisy(300), timestamps=ts, detector="zscore")
    assert r.timestamps[0] == 1_704_067_200_000  # 01:00 in Paris is midnight UTC


def test_read_csv_uses_tsads_ingest(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(
        "date;amount\n02/01/2024;1,5\n01/01/2024;2,5\n03/01/2024;\n13/01/2024;4,0\n"
    )
    df = tsad.read_csv(path)
    assert list(df["value"][:2]) == [2.5, 1.5]  # sorted by time, decimal commas read
    assert math.isnan(df["value"][2])
    assert df["timestamp"][0] == pd.Timestamp("2024-01-01", tz="UTC")  # DD/MM/YYYY detected
    assert df.attrs["value_column"] == "amount"
    assert df.attrs["diagnostics"]["missing_values"] == 1
    assert df.attrs["diagnostics"]["decimal"] == ","


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, code, words",
    [
        (lambda: tsad.detect(["a", "b", "c"]), TypeError, None, "must be numbers"),
        (lambda: tsad.detect(np.ones(3, dtype=complex)), TypeError, None, "dtype complex128"),
        (lambda: tsad.detect(np.ones((10, 2))), ValueError, None, "one-dimensional"),
        (
            lambda: tsad.detect(noisy(300), timestamps=np.arange(299)),
            tsad.TsadError, "invalid_series", "299 timestamps but 300 values",
        ),
        (
            lambda: tsad.detect(noisy(300), timestamps=np.arange(300)[::-1]),
            tsad.TsadError, "invalid_series", "strictly increase",
        ),
        (
            lambda: tsad.detect(noisy(300), timestamps=["x"] * 300),
            TypeError, None, "datetimes or integers",
        ),
        (
            lambda: tsad.detect(noisy(300), detector="nope"),
            tsad.TsadError, "invalid_config", "unknown detector kind `nope`",
        ),
        (
            lambda: tsad.detect(noisy(300), detector={"kind": "mad", "window": -1}),
            tsad.TsadError, "invalid_config", "window",
        ),
        (
            lambda: tsad.detect(noisy(10), detector="mad"),
            tsad.TsadError, "not_enough_data", "need 49 points, got 10",
        ),
        (
            lambda: tsad.detect(noisy(300), threshold="loose"),
            tsad.TsadError, "invalid_parameter", "unknown method `loose`",
        ),
        (
            lambda: tsad.detect(noisy(300), threshold={"method": "quantile", "q": 2}),
            tsad.TsadError, "invalid_parameter", "q",
        ),
        (
            lambda: tsad.detect(noisy(300), detector="mad", train=5000),
            tsad.TsadError, "invalid_parameter", "training part is 5000 rows",
        ),
        (
            lambda: tsad.detect(noisy(300), events={"min_points": 0}),
            tsad.TsadError, "invalid_parameter", "min_points",
        ),
        (
            lambda: tsad.detect(noisy(300), events={"standout": "yes"}),
            tsad.TsadError, "invalid_parameter", "field `standout`",
        ),
        (
            lambda: tsad.detect(pd.DataFrame({"value": noisy(300)})),
            TypeError, None, "tsad.detect_frame",
        ),
        (
            lambda: tsad.detect(noisy(300), timestamps=HOURS, train="2030-01-01"),
            tsad.TsadError, "invalid_parameter", "is outside the data, which runs from 2024",
        ),
        (
            lambda: tsad.detect(noisy(300), timestamps=HOURS, train="teatime"),
            ValueError, None, "'teatime' is not a time",
        ),
        (
            lambda: tsad.detect(noisy(300), train="2024-01-05"),
            ValueError, None, "the series has no timestamps",
        ),
        (
            lambda: tsad.detect(noisy(300), timestamps=HOURS, detector="mad", train="2024-01-01 05:00"),
            tsad.TsadError, "invalid_parameter", "needs at least 49 training points",
        ),
        (lambda: tsad.read_csv("/nonexistent/x.csv"), tsad.TsadError, "invalid_csv", "x.csv"),
        (lambda: tsad.Model.load("/nonexistent/m.json"), OSError, None, "cannot read model file"),
    ],
    ids=[
        "strings", "complex", "2-d", "lengths", "order", "bad-times", "unknown-kind",
        "bad-param", "too-short", "bad-threshold", "bad-quantile", "train-too-long",
        "bad-events", "bad-standout", "data-frame", "train-outside", "train-no-time",
        "train-time-no-timestamps", "train-time-too-short", "missing-csv", "missing-model",
    ],
)
def test_bad_input_raises_a_clear_exception(call, error, code, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
    if code is not None:
        assert info.value.code == code
        assert isinstance(info.value, ValueError)


# --- streaming, models, the GIL -------------------------------------------------------------


# `mad` takes the demo's daily cycle out in batch, which a stream cannot: its raw form streams.
@pytest.mark.parametrize("kind", ["zscore", {"kind": "mad", "season": False}, "novelty"])
def test_streaming_equals_batch(kind):
    demo = tsad.demo(points=3000, seed=3)
    ts, values = demo["timestamp"], demo["value"]
    batch = tsad.detect(values, timestamps=ts, detector=kind)
    online = tsad.Online(kind)
    streamed = online.update_many(ts, values)
    np.testing.assert_array_equal(streamed, batch.score)
    one_by_one = tsad.Online(kind)
    t_ms = tsad._timestamps(ts)
    singles = np.array([one_by_one.update(int(t), float(x)) for t, x in zip(t_ms, values)])
    np.testing.assert_array_equal(singles, streamed)


def test_online_accepts_datetimes_and_specs():
    o = tsad.Online({"kind": "zscore", "window": 10})
    assert o.kind == "zscore"
    scores = [o.update(pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=i), v)
              for i, v in enumerate(noisy(20))]
    assert math.isnan(scores[0]) and math.isfinite(scores[-1])


def test_model_fit_save_load(tmp_path):
    normal, new = noisy(500), noisy(800, seed=SEED + 2, spike_at=600)
    model = tsad.fit(normal, detector={"kind": "mad", "window": 30})
    assert model.train_rows == 500 and model.spec["window"] == 30
    path = tmp_path / "model.json"
    model.save(path)
    assert json.loads(path.read_text())["format"] == "tsad-model"
    loaded = tsad.Model.load(path)
    a, b = model.detect(new), loaded.detect(new)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.rarity, b.rarity)
    assert a.anomaly[600] and a.diagnostics["training"]["source"] == "model"
    again = tsad.Model.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(again.detect(new).score, a.score)
    with pytest.raises(tsad.TsadError, match="not a tsad model file"):
        tsad.Model.from_bytes(b"{}")


def test_the_gil_is_released_while_detecting():
    """Another Python thread keeps running during a long detection: the longest pause it sees
    is far shorter than the detection (with the GIL held, it would stall for all of it)."""
    values = noisy(2_000_000, seed=SEED)
    done = threading.Event()
    took = {}

    def work():
        start = time.perf_counter()
        tsad.detect(values, detector="mad")
        took["seconds"] = time.perf_counter() - start
        done.set()

    worker = threading.Thread(target=work)
    last, longest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < 0.5 * took["seconds"], (longest, took)


# --- the same results as the CLI ------------------------------------------------------------


def cli_json(cli, *args):
    run = subprocess.run([str(cli), *map(str, args), "--format", "json", "--points"],
                         capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr  # 1 = anomalies found
    return json.loads(run.stdout)


def column(points, name):
    return np.array([math.nan if p.get(name) is None else p[name] for p in points], dtype=float)


def assert_same_as_cli(out, r):
    points = out["points"]
    assert len(points) == len(r)
    np.testing.assert_array_equal(column(points, "score"), r.score)
    np.testing.assert_array_equal(column(points, "rarity"), r.rarity)
    assert [p["anomaly"] for p in points] == r.anomaly.tolist()
    spans = lambda events: [(e["start"], e["end"], e["peak"], e["rank"]) for e in events]
    assert spans(out["events"]) == spans(r.events)
    assert out["threshold"]["value"] == pytest.approx(r.diagnostics["threshold_value"], rel=1e-12)


def test_same_results_as_the_cli_on_the_demo(cli, tmp_path):
    path = tmp_path / "demo.csv"
    subprocess.run([str(cli), "demo", "--output", str(path)], check=True, capture_output=True)
    out = cli_json(cli, "detect", path, "--train-rows", 200)
    df = tsad.read_csv(path)
    r = tsad.detect(df["value"], timestamps=df["timestamp"], train=200)
    assert_same_as_cli(out, r)
    assert out["event_count"] >= 8


def test_same_results_as_the_cli_on_a_nab_file(cli, nab_dir, tmp_path):
    path = nab_dir / "data" / "realKnownCause" / "machine_temperature_system_failure.csv"
    out = cli_json(cli, "detect", path)
    df = tsad.read_csv(path)
    r = tsad.detect(df["value"], timestamps=df["timestamp"])
    assert_same_as_cli(out, r)
    # and a model saved from Python is read by the CLI with the same result
    model = tsad.fit(df["value"][:5000], df["timestamp"][:5000], detector="mad")
    model.save(tmp_path / "m.json")
    out = cli_json(cli, "detect", path, "--model", tmp_path / "m.json")
    assert_same_as_cli(out, model.detect(df["value"], df["timestamp"]))
