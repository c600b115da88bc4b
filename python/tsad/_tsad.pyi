"""Type stubs for the compiled module. Its functions take specs, thresholds and event options as
JSON text and arrays of exact dtypes (float64 values, int64 Unix-millisecond timestamps);
tsad/__init__.py converts to them."""

from typing import Any, Dict, Optional

import numpy as np
import numpy.typing as npt

__version__: str

class TsadError(ValueError):
    code: str

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

def detect(
    values: F64,
    timestamps: Optional[I64],
    detector: str,
    threshold: str,
    events: str,
    train_rows: Optional[int] = None,
    train_values: Optional[F64] = None,
    train_timestamps: Optional[I64] = None,
) -> Dict[str, Any]: ...
def fit(values: F64, timestamps: Optional[I64], detector: str) -> _Model: ...
def read_csv(
    path: str,
    time_column: Optional[str] = None,
    value_column: Optional[str] = None,
    no_time_column: bool = False,
    decimal: Optional[str] = None,
) -> Dict[str, Any]: ...
def demo(points: int = 2000, seed: int = 42) -> Dict[str, Any]: ...
def parse_spec(detector: str) -> str: ...
def check(detector: str, threshold: str, events: str) -> None: ...
def catalog() -> str: ...

class _Model:
    @property
    def spec_json(self) -> str: ...
    @property
    def train_rows(self) -> int: ...
    def detect(
        self, values: F64, timestamps: Optional[I64], threshold: str, events: str
    ) -> Dict[str, Any]: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: str) -> None: ...
    @staticmethod
    def from_bytes(data: bytes) -> _Model: ...
    @staticmethod
    def load(path: str) -> _Model: ...

class _Online:
    def __init__(self, detector: str) -> None: ...
    @property
    def kind(self) -> str: ...
    def update(self, t: int, x: float) -> float: ...
    def update_many(self, ts: I64, xs: F64) -> F64: ...
