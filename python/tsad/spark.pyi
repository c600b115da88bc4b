"""Type stubs for tsad.spark (see spark.py for the documentation)."""

from typing import Any, Mapping, Optional, Union

from pyspark.sql import DataFrame

from . import Spec, ThresholdSpec, Time

def detect(
    df: DataFrame,
    series_col: str,
    time_col: Optional[str],
    value_col: str,
    spec: Spec = None,
    threshold: ThresholdSpec = None,
    events: Optional[Mapping[str, Any]] = None,
    train: Union[None, int, Time] = None,
) -> DataFrame: ...
def events(
    df: DataFrame,
    series_col: str,
    time_col: Optional[str],
    value_col: str,
    spec: Spec = None,
    threshold: ThresholdSpec = None,
    events: Optional[Mapping[str, Any]] = None,
    train: Union[None, int, Time] = None,
) -> DataFrame: ...
