"""Type stubs for the tsad package (see tsad/__init__.py for the documentation)."""

import datetime
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
import pandas as pd

__version__: str

Spec = Union[None, str, Mapping[str, Any]]
ThresholdSpec = Union[None, str, Mapping[str, Any]]
EventOptions = Optional[Mapping[str, Any]]
Values = Union[npt.ArrayLike, "pd.Series[float]"]
Times = Union[None, npt.ArrayLike, "pd.Series[Any]", pd.DatetimeIndex]
PathLike = Union[str, "os.PathLike[str]"]
Time = Union[str, datetime.date, np.datetime64]
Train = Union[None, int, Time, Values]

class TsadError(ValueError):
    """What tsad rejected, with tsad's own message."""

    code: str

class Detection:
    score: npt.NDArray[np.float64]
    rarity: npt.NDArray[np.float64]
    expected: npt.NDArray[np.float64]
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    anomaly: npt.NDArray[np.bool_]
    members: Dict[str, npt.NDArray[np.float64]]
    events: List[Dict[str, Any]]
    report: Dict[str, Any]
    diagnostics: Dict[str, Any]
    routine: List[Dict[str, Any]]
    quiet: Optional[Dict[str, Any]]
    timestamps: Optional[npt.NDArray[np.int64]]
    values: npt.NDArray[np.float64]
    def __len__(self) -> int: ...
    def to_pandas(self) -> pd.DataFrame: ...
    def events_to_pandas(self) -> pd.DataFrame: ...

def detect(
    values: Values,
    timestamps: Times = None,
    detector: Spec = None,
    threshold: ThresholdSpec = None,
    train: Train = None,
    train_timestamps: Times = None,
    events: EventOptions = None,
) -> Detection: ...
def detect_frame(
    df: pd.DataFrame,
    time_col: Optional[str] = None,
    value_col: Optional[str] = None,
    detector: Spec = None,
    threshold: ThresholdSpec = None,
    train: Train = None,
    events: EventOptions = None,
) -> Detection: ...

class Model:
    @property
    def spec(self) -> Dict[str, Any]: ...
    @property
    def train_rows(self) -> int: ...
    def detect(
        self,
        values: Values,
        timestamps: Times = None,
        threshold: ThresholdSpec = None,
        events: EventOptions = None,
    ) -> Detection: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: PathLike) -> None: ...
    @classmethod
    def from_bytes(cls, data: bytes) -> Model: ...
    @classmethod
    def load(cls, path: PathLike) -> Model: ...

def fit(values: Values, timestamps: Times = None, detector: Spec = None) -> Model: ...

class Online:
    def __init__(self, detector: Spec) -> None: ...
    @property
    def kind(self) -> str: ...
    def update(self, t: Any, x: float) -> float: ...
    def update_many(self, ts: Times, xs: Values) -> npt.NDArray[np.float64]: ...

def read_csv(
    path: PathLike,
    time_column: Union[None, str, int] = None,
    value_column: Union[None, str, int] = None,
    no_time_column: bool = False,
    decimal: Optional[str] = None,
) -> pd.DataFrame: ...
def demo(points: int = 2000, seed: int = 42) -> pd.DataFrame: ...
def parse_spec(detector: Spec) -> Dict[str, Any]: ...
def catalog() -> Dict[str, Any]: ...
