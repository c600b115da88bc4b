"""Shared helpers: where the CLI binary and the NAB corpus are, and skip-or-fail rules.

Optional inputs (the `tsad` binary, the NAB corpus, Spark and Java) skip their tests with a
message on a developer's machine, and fail them under CI (`CI=true`), where .ci/run provides
them all.
"""

import os
import pathlib
import shutil

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, why: str) -> None:
    """Skips the test (fails it in CI) unless `condition` holds."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI must provide this: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The release `tsad` binary that `cargo test --workspace --release` builds."""
    explicit = os.environ.get("TSAD_CLI")
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    path = pathlib.Path(explicit) if explicit else target / "release" / "tsad"
    need(
        path.is_file(),
        f"no tsad binary at {path}: build it with `cargo build --release -p tsad-cli` "
        "(or set TSAD_CLI)",
    )
    return path


@pytest.fixture(scope="session")
def nab_dir() -> pathlib.Path:
    """The NAB corpus: TSAD_NAB_DIR, or ../shared/datasets/nab beside the repository."""
    path = pathlib.Path(os.environ.get("TSAD_NAB_DIR", REPO.parent / "shared" / "datasets" / "nab"))
    need(
        (path / "data").is_dir(),
        f"no NAB corpus at {path}: set TSAD_NAB_DIR to a copy of NAB (its data/ folder)",
    )
    return path


@pytest.fixture(scope="session")
def spark():
    """A local Spark session on two cores, with UTC as its time zone."""
    try:
        import pyspark  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as e:
        need(False, f"pyspark and pyarrow are not installed ({e}); .ci/install-deps installs them")
    need(shutil.which("java") is not None, "no Java runtime (java) on PATH; Spark needs one")
    import sys

    from pyspark.sql import SparkSession

    # The workers run the same interpreter as the tests, so they import the same tsad.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # Loopback only: Spark would otherwise bind to the first non-loopback interface.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tsad-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
