"""tsad.spark on a local two-core Spark session: 200 series through applyInPandas give the
same scores, flags and events as tsad.detect on each series in this process."""

import numpy as np
import pandas as pd
import pytest

import tsad
import tsad.spark

SERIES, POINTS = 200, 300


@pytest.fixture(scope="module")
def long_frame():
    rng = np.random.default_rng(11)
    start = pd.Timestamp("2024-01-01")
    frames = []
    for s in range(SERIES):
        values = 50 + 5 * np.sin(np.arange(POINTS) / 12) + rng.normal(size=POINTS)
        if s % 3 == 0:
            values[rng.integers(100, POINTS)] += 30  # a spike in every third series
        frames.append(pd.DataFrame({
            "series": f"s{s:03d}",
            "ts": start + pd.to_timedelta(np.arange(POINTS), unit="min"),
            "value": values,
        }))
    # Shuffled, so the per-series time sort inside tsad.spark is exercised.
    return pd.concat(frames).sample(frac=1.0, random_state=3).reset_index(drop=True)


def local(long_frame, spec, train=None):
    """tsad.detect per series in this process, in time order."""
    out = {}
    for key, group in long_frame.groupby("series"):
        group = group.sort_values("ts")
        out[key] = (
            group,
            tsad.detect(group["value"], timestamps=group["ts"], detector=spec, train=train),
        )
    return out


def test_spark_detect_matches_one_process(spark, long_frame):
    df = spark.createDataFrame(long_frame)
    got = tsad.spark.detect(df, "series", "ts", "value", spec="mad").toPandas()
    assert len(got) == SERIES * POINTS
    expected = local(long_frame, "mad")
    assert set(got["series"]) == set(expected)
    spiked, quiet = [], []
    for key, part in got.groupby("series"):
        part = part.sort_values("ts")
        group, r = expected[key]
        np.testing.assert_array_equal(part["value"].to_numpy(), group["value"].to_numpy())
        np.testing.assert_array_equal(part["score"].to_numpy(), r.score, err_msg=key)
        np.testing.assert_array_equal(part["rarity"].to_numpy(), r.rarity, err_msg=key)
        np.testing.assert_array_equal(part["anomaly"].to_numpy(), r.anomaly, err_msg=key)
        (spiked if int(key[1:]) % 3 == 0 else quiet).append(bool(r.anomaly.any()))
    # Most spiked series are flagged (a 48-point window on this short swing is wide, so some
    # spikes score only about 8 robust deviations), and almost no other series: the default
    # threshold promises about one false alarm per 100,000 points, 0.4 in these 40,000.
    assert sum(spiked) >= 0.8 * len(spiked), (sum(spiked), len(spiked))
    assert sum(quiet) <= 0.05 * len(quiet), (sum(quiet), len(quiet))


# "2024-01-01 01:39" is each series' 100th minute: the same training part as 100.
@pytest.mark.parametrize("train", [None, 100, "2024-01-01 01:39"])
def test_spark_events_match_one_process(spark, long_frame, train):
    df = spark.createDataFrame(long_frame)
    got = tsad.spark.events(df, "series", "ts", "value", spec="mad", train=train).toPandas()
    expected = local(long_frame, "mad", train)
    want = sorted(
        (key, e["rank"], e["start"], e["end"], e["peak_time"])
        for key, (_, r) in expected.items() for e in r.events
    )
    have = sorted(
        zip(got["series"], got["rank"], got["start"], got["end"], got["peak_time"])
    )
    assert have == want and len(want) > 0


def test_spark_rejects_a_bad_spec_on_the_driver(spark, long_frame):
    df = spark.createDataFrame(long_frame.head(10))
    with pytest.raises(tsad.TsadError, match="unknown detector kind"):
        tsad.spark.detect(df, "series", "ts", "value", spec="nope")
    with pytest.raises(ValueError, match="not in the DataFrame"):
        tsad.spark.detect(df, "series", "time", "value")
    with pytest.raises(ValueError, match="train"):
        tsad.spark.events(df, "series", "ts", "value", train=-1)
    with pytest.raises(ValueError, match="'teatime' is not a time"):
        tsad.spark.events(df, "series", "ts", "value", train="teatime")
