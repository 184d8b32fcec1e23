"""Where the official clients live: separate environments made by `make compat-envs`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str) -> None:
    message = f"{what} is not installed; run `make compat-envs`"
    if IN_CI:
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)


def customerio_python() -> str:
    """The Python of the virtualenv holding PyPI `customerio` 3.2.0."""
    path = Path(
        os.environ.get(
            "PATRON_COMPAT_CUSTOMERIO_PYTHON", ROOT / ".venv-compat-customerio" / "bin" / "python"
        )
    )
    if not path.exists():
        _missing("the `customerio` compat virtualenv")
    return str(path)


def pipelines_python() -> str:
    """The Python of the virtualenv holding `customerio-cdp-analytics` and
    `segment-analytics-python`."""
    path = Path(
        os.environ.get(
            "PATRON_COMPAT_PIPELINES_PYTHON", ROOT / ".venv-compat-pipelines" / "bin" / "python"
        )
    )
    if not path.exists():
        _missing("the Pipelines compat virtualenv")
    return str(path)


def node_dir() -> Path:
    """The folder whose node_modules holds `customerio-node` 5.2.0."""
    path = Path(os.environ.get("PATRON_COMPAT_NODE_DIR", ROOT / "tests" / "compat" / "node"))
    for package in ("customerio-node", "@segment/analytics-node"):
        if not (path / "node_modules" / package).exists():
            _missing(package)
    return path
