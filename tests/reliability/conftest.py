"""The reliability suite's live server: real uvicorn, dev mode, a SQLite file of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from live import LiveServer


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One dev-mode server for a test module (the soak test makes its own per test)."""
    workdir = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    live = LiveServer(f"sqlite:///{workdir / 'patron.db'}", workdir, args=("--dev",))
    yield live
    live.stop()
