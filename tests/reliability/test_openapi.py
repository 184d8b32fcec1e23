"""openapi.yaml describes exactly what Patron serves, and a live server keeps to it:
schemathesis generates requests for every operation (valid and invalid); no answer is a 5xx
and every answer matches the schema."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from live import LiveServer
from patron.app import create_app
from patron.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch"}


def documented() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def test_openapi_paths_are_exactly_the_apps_routes(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", dev=True))
    served = {
        (method, route.path)
        for route in app.routes
        for method in (getattr(route, "methods", None) or ())
        if method != "HEAD"
    }
    assert documented() == served


schema = schemathesis.openapi.from_path(SPEC)


def credentials(server: LiveServer, operation: Any) -> dict[str, str]:
    """The header each operation's security scheme asks for."""
    creds = server.creds
    needs = {name for item in operation.definition.raw.get("security", []) for name in item}
    if "trackBasic" in needs:
        token = base64.b64encode(f"{creds['site_id']}:{creds['track_api_key']}".encode())
        return {"Authorization": "Basic " + token.decode()}
    if "pipelinesBasic" in needs:
        token = base64.b64encode(f"{creds['pipelines_write_key']}:".encode())
        return {"Authorization": "Basic " + token.decode()}
    if "appBearer" in needs:
        return {"Authorization": f"Bearer {creds['app_api_key']}"}
    return {}


CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


def _short_wait(case: Any) -> None:
    """The inbox's ``wait`` holds an answer up to 30 s when nothing matches: keep generated
    waits that the server would accept short (tests/integration/test_dev_inbox.py tests
    waiting itself)."""
    query = case.query or {}
    raw = query.get("wait")
    if raw is None:
        return
    text = str(raw).strip().lower().removesuffix("ms").removesuffix("s")
    try:
        seconds = float(text)
    except ValueError:
        return
    if seconds > 0.2:
        query["wait"] = "0.2"


def call_and_validate(case: Any, server: LiveServer) -> None:
    _short_wait(case)
    case.call_and_validate(
        base_url=server.base, headers=credentials(server, case.operation), checks=CHECKS
    )


# Injected faults answer with whatever status they are told to: tested on their own.
operations = schema.exclude(method="POST", path="/__patron/faults")
quick = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
thorough = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@operations.parametrize()
@quick
def test_every_operation_keeps_to_the_schema(case: Any, server: LiveServer) -> None:
    call_and_validate(case, server)


@pytest.mark.slow
@operations.parametrize()
@thorough
def test_every_operation_keeps_to_the_schema_at_length(case: Any, server: LiveServer) -> None:
    call_and_validate(case, server)
