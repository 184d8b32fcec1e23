"""pytest plugin: a real Patron for your tests (installing Patron registers it).

The ``patron`` fixture starts ``patron serve --dev`` once per test session, on a free loopback
port with a SQLite file in a temporary directory, and empties the workspace before every test
that uses it. It yields a :class:`Patron` with the URLs and keys to give the code under test,
official-client constructors, and helpers to look at what arrived. docs/testing-with-patron.md
has a full example.

Options: ``--patron-database URL`` (e.g. a PostgreSQL database to test against instead),
``--patron-https`` (serve TLS with a local CA, as Customer.io does; the clients the fixture
makes work either way). Both can also be set as ini options ``patron_database`` and
``patron_https``.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_READY_SECONDS = 60


class PatronError(Exception):
    """A control-plane or App API call that Patron answered with an error."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Patron answered {status}: {body}")
        self.status = status
        self.body = body


class Server:
    """One ``patron serve --dev`` subprocess and the default workspace's credentials."""

    def __init__(self, workdir: Path, database_url: str | None = None, https: bool = False) -> None:
        self.workdir = workdir
        self.https = https
        self.database_url = database_url or f"sqlite:///{workdir / 'patron.db'}"
        self.ca_bundle: Path | None = workdir / "data" / "tls" / "ca.pem" if https else None
        self._log_path = workdir / "patron-serve.log"
        self._context: ssl.SSLContext | None = None
        # A workspace of the session's own, so that a shared database (--patron-database)
        # can hold other data too; this also migrates the database before the server starts.
        self.credentials: dict[str, Any] = json.loads(
            self._patron(
                "workspace",
                "create",
                f"pytest-{uuid.uuid4().hex[:12]}",
                "--json",
                "--database",
                self.database_url,
            )
        )
        self.port, self.proc = self._start()
        self.base_url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"
        self._wait_ready()

    @staticmethod
    def _patron(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "patron", *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"patron {' '.join(args[:2])} failed:\n{done.stderr}")
        return done.stdout

    def _start(self) -> tuple[int, subprocess.Popen[bytes]]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "patron",
            "serve",
            "--dev",
            "--port",
            str(port),
            "--database",
            self.database_url,
            "--data-dir",
            str(self.workdir / "data"),
            "--log-level",
            "warning",
            *(["--https"] if self.https else []),
        ]
        with self._log_path.open("ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        return port, proc

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"patron serve exited:\n{self._log_path.read_text()}")
            if self.ca_bundle is not None and self._context is None:
                if not self.ca_bundle.exists():  # written when the server starts
                    time.sleep(0.05)
                    continue
                self._context = ssl.create_default_context(cafile=str(self.ca_bundle))
            try:
                with urllib.request.urlopen(
                    self.base_url + "/healthz", timeout=1, context=self._context
                ) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"patron serve did not become ready:\n{self._log_path.read_text()}")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> Any:
        """A call with the App API key (``body`` as JSON, or ``raw`` bytes of
        ``content_type``); the JSON answer, or :class:`PatronError`."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.credentials['app_api_key']}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise PatronError(exc.code, exc.read().decode("utf-8", "replace")) from None

    def stop(self) -> None:
        """Stop the server (it exits cleanly on SIGTERM)."""
        terminate(self.proc)


def terminate(proc: subprocess.Popen[Any]) -> None:
    """Stop a server process: SIGTERM (a clean exit), then SIGKILL after 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Clock:
    """The workspace's virtual clock (``/__patron/clock``)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def _post(self, body: dict[str, Any]) -> int:
        state: dict[str, Any] = self._server.call("POST", "/__patron/clock", body)
        return int(state["now"])

    def now(self) -> int:
        """The workspace's current unix time."""
        return int(self._server.call("GET", "/__patron/clock")["now"])

    def advance(self, by: int | str) -> int:
        """Move forward by seconds or a duration like ``"3d"`` or ``"1h30m"``; the new time."""
        return self._post({"advance": by})

    def set(self, unix: int, *, freeze: bool | None = None) -> int:
        """Jump to ``unix`` (and freeze or unfreeze the clock when asked)."""
        body: dict[str, Any] = {"set": unix}
        if freeze is not None:
            body["freeze"] = freeze
        return self._post(body)

    def freeze(self) -> int:
        """Stop the clock where it is."""
        return self._post({"freeze": True})

    def unfreeze(self) -> int:
        """Let the clock run on from where it stands."""
        return self._post({"freeze": False})

    def reset(self) -> int:
        """Back to real time."""
        return self._post({"reset": True})


class Patron:
    """What a test gets from the ``patron`` fixture."""

    def __init__(self, server: Server) -> None:
        self._server = server
        creds = server.credentials
        self.base_url = server.base_url
        self.track_url = server.base_url  # serves /api/v1 and /api/v2
        self.app_url = server.base_url  # serves the App API's /v1
        self.pipelines_url = server.base_url  # serves the Pipelines /v1/identify, /v1/batch, …
        self.site_id: str = creds["site_id"]
        self.track_api_key: str = creds["track_api_key"]
        self.app_api_key: str = creds["app_api_key"]
        self.pipelines_write_key: str = creds["pipelines_write_key"]
        self.workspace_id: int = creds["workspace_id"]
        self.ca_bundle: str | None = None if server.ca_bundle is None else str(server.ca_bundle)
        self.clock = Clock(server)

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the workspace and put back clock, faults, request log and random ids; the
        transactional messages and subscription topics an earlier :meth:`apply` declared go
        too, so that every test declares its own."""
        self._server.call("POST", "/__patron/reset", {})
        self._server.call(
            "POST",
            "/__patron/apply",
            {"subscription_topics": [], "transactional": []},
            params={"prune": "true"},
        )
        self._server.call("POST", "/__patron/seed", {"seed": None})

    def apply(
        self, doc: dict[str, Any] | str, *, prune: bool = False, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """Apply a workspace document (a dict, or YAML or JSON text) as ``patron apply`` does:
        segments, subscription topics, transactional messages. Returns the changes, each
        ``{"section", "id", "name", "action"}``."""
        params = {"prune": "true" if prune else None, "dry_run": "true" if dry_run else None}
        if isinstance(doc, str):
            answer = self._server.call(
                "POST",
                "/__patron/apply",
                params=params,
                raw=doc.encode("utf-8"),
                content_type="application/yaml",
            )
        else:
            answer = self._server.call("POST", "/__patron/apply", doc, params=params)
        changes: list[dict[str, Any]] = answer["changes"]
        return changes

    def settle(self, timeout: float = 10) -> bool:
        """Wait until background work (sending, segments, exports) has caught up; False when
        ``timeout`` seconds pass first."""
        answer = self._server.call("POST", "/__patron/settle", {"timeout": timeout})
        return bool(answer["settled"])

    def seed(self, value: int | None) -> None:
        """Make generated ids (``cio_id`` …) repeat across runs; ``None`` for random ids."""
        self._server.call("POST", "/__patron/seed", {"seed": value})

    def snapshot(self, name: str = "default") -> None:
        """Save the workspace's data under ``name``."""
        self._server.call("POST", "/__patron/snapshot", {"name": name})

    def restore(self, name: str = "default") -> None:
        """Put the workspace back as :meth:`snapshot` saved it."""
        self._server.call("POST", "/__patron/restore", {"name": name})

    def fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (``path``, ``method``, ``status``, ``probability``, ``times``,
        ``latency_ms``, ``body``); returns it with its id."""
        added: dict[str, Any] = self._server.call("POST", "/__patron/faults", rule)["faults"][0]
        return added

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._server.call("DELETE", "/__patron/faults")

    # -- what arrived ------------------------------------------------------------------------

    def people(self) -> list[dict[str, Any]]:
        """Every person, oldest first, in the App API's customer shape (``id``,
        ``identifiers``, ``attributes``, ``timestamps``, ``unsubscribed``, ``devices``)."""
        found: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            page = self._server.call(
                "GET", "/__patron/people", params={"start": start, "limit": 1000}
            )
            found.extend(page["people"])
            start = page["next"]
            if start is None:
                return found

    def person(self, identifier: str, id_type: str = "id") -> dict[str, Any] | None:
        """One person (``id_type`` id, email or cio_id), or None when there is none."""
        try:
            answer = self._server.call(
                "GET",
                f"/v1/customers/{_segment(identifier)}/attributes",
                params={"id_type": id_type},
            )
        except PatronError as exc:
            if exc.status == 404:
                return None
            raise
        customer: dict[str, Any] = answer["customer"]
        return customer

    def events(
        self, person: str, *, id_type: str = "id", type: str = "event", name: str | None = None
    ) -> list[dict[str, Any]]:
        """The person's activities of ``type`` (event, page, screen, …), oldest first."""
        return self._activities(
            f"/v1/customers/{_segment(person)}/activities",
            {"id_type": id_type, "type": type, "name": name},
        )

    def activities(self, **params: Any) -> list[dict[str, Any]]:
        """The workspace's activities (filters as ``GET /v1/activities``), oldest first."""
        return self._activities("/v1/activities", params)

    def _activities(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start = None
        while True:
            page = self._server.call("GET", path, params={**params, "start": start, "limit": 1000})
            found.extend(page["activities"])
            start = page.get("next")
            if not start:
                return list(reversed(found))

    def outbox(self, **filters: Any) -> list[dict[str, Any]]:
        """Messages the workspace sent, newest first (``delivery_id``, ``channel``, ``to``,
        ``cc``, ``recipients``, ``from``, ``subject``, ``created``, ``snippet``). Filters:
        ``to``, ``subject``, ``text`` (substrings, any case), ``delivery_id``, ``limit``
        (default 1000), ``wait`` (seconds to wait for a first match, at most 30)."""
        filters.setdefault("limit", 1000)
        messages: list[dict[str, Any]] = self._server.call(
            "GET", "/__patron/messages", params=filters, timeout=60
        )["messages"]
        return messages

    def last_email(self, to: str | None = None, wait: float = 5) -> dict[str, Any]:
        """The newest email (to ``to``, when given) in full: ``subject``, ``from``, ``to``,
        ``html``, ``text``, ``headers``, ``raw``, ``attachments``, ``links`` (tracked ones with
        the URL they lead to), ``list_unsubscribe``… Waits up to ``wait`` seconds for one to
        arrive; AssertionError when none does."""
        found = self.outbox(to=to, limit=1, wait=wait)
        if not found:
            raise AssertionError(f"no email{' to ' + to if to else ''} arrived within {wait:g} s")
        message: dict[str, Any] = self._server.call(
            "GET", f"/__patron/messages/{_segment(found[0]['delivery_id'])}"
        )
        return message

    def clear_outbox(self) -> int:
        """Forget the messages sent so far; how many there were."""
        return int(self._server.call("DELETE", "/__patron/messages")["cleared"])

    def requests(
        self, path: str | None = None, status: str | int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The last requests the workspace sent (and unauthenticated ones), newest first:
        method, path, body, status, response_body, identity, duration_ms."""
        params = {"path": path, "status": None if status is None else str(status), "limit": limit}
        entries: list[dict[str, Any]] = self._server.call(
            "GET", "/__patron/requests", params=params
        )["requests"]
        return entries

    # -- official clients (when installed) ---------------------------------------------------

    def track_client(self, **options: Any) -> Any:
        """PyPI ``customerio``'s ``CustomerIO`` pointed at this server, every method of it.

        The client builds ``batch()``'s URL from ``host`` and ``port``, always as ``https://``,
        and mounts its retries for ``https://`` only. Here ``host`` and ``port`` are this
        server's, so no call can reach Customer.io; over plain http the client's sessions send
        those ``https://`` URLs to this server as ``http://`` and retry over http too."""
        from customerio import CustomerIO

        options.setdefault("retries", 0)
        client = CustomerIO(
            self.site_id, self.track_api_key, host="127.0.0.1", port=self._server.port, **options
        )
        if not self._server.https:
            client.base_url = self.track_url + "/api/v1"
        self._point_sessions(client)
        return client

    def api_client(self, **options: Any) -> Any:
        """PyPI ``customerio``'s ``APIClient`` (transactional messages) pointed at this server."""
        from customerio import APIClient

        client = APIClient(self.app_api_key, url=self.app_url, **options)
        self._point_sessions(client)
        return client

    def _point_sessions(self, client: Any) -> None:
        """Make every session the client builds (one kept for pooling, or one per request with
        ``use_connection_pooling=False``) talk to this server as it is served."""
        build = client._build_session
        port = self._server.port
        ca_bundle = self.ca_bundle

        def build_session() -> Any:
            session = build()
            if ca_bundle is not None:
                # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own CA
                # bundle; this session talks to loopback only, so it ignores the environment.
                session.trust_env = False
                session.verify = ca_bundle
            else:
                _serve_https_urls_over_http(session, f"127.0.0.1:{port}")
            return session

        client._build_session = build_session

    def analytics_client(self, **options: Any) -> Any:
        """``customerio-cdp-analytics``' ``Client`` (Data Pipelines) pointed at this server;
        ``sync_mode=True`` by default so that calls have arrived when they return."""
        from customerio.analytics import Client

        options.setdefault("sync_mode", True)
        return Client(self.pipelines_write_key, host=self.pipelines_url, **options)


def _serve_https_urls_over_http(session: Any, address: str) -> None:
    """Send a requests session's ``https://ADDRESS/…`` calls as ``http://ADDRESS/…``, with the
    retries the client mounted for ``https://``, which also cover ``http://ADDRESS/…``."""
    from requests.adapters import HTTPAdapter

    retries = session.get_adapter("https://").max_retries

    class AsPlainHttp(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            request.url = "http://" + request.url.removeprefix("https://")
            return super().send(request, *args, **kwargs)

    session.mount(f"https://{address}/", AsPlainHttp(max_retries=retries))
    session.mount(f"http://{address}/", HTTPAdapter(max_retries=retries))


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("patron", "Patron (a local Customer.io)")
    group.addoption(
        "--patron-database",
        dest="patron_database",
        default=None,
        help="Database for the patron fixture's server (default: SQLite in a temp dir).",
    )
    group.addoption(
        "--patron-https",
        dest="patron_https",
        action="store_true",
        default=None,
        help="Serve the patron fixture over HTTPS with a local CA.",
    )
    parser.addini("patron_database", "Database URL for the patron fixture's server.", default="")
    parser.addini(
        "patron_https", "Serve the patron fixture over HTTPS.", type="bool", default=False
    )


@pytest.fixture(scope="session")
def patron_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The session's ``patron serve --dev`` (started on first use)."""
    config = request.config
    database = config.getoption("patron_database") or config.getini("patron_database") or None
    https = config.getoption("patron_https")
    if https is None:
        https = bool(config.getini("patron_https"))
    with tempfile.TemporaryDirectory(prefix="patron-") as workdir:
        server = Server(Path(workdir), database, https=https)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def patron(patron_server: Server) -> Patron:
    """A Patron with an empty workspace, real time and random ids."""
    handle = Patron(patron_server)
    handle.reset()
    return handle


__all__ = ["Clock", "Patron", "PatronError", "Server"]
