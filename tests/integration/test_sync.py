"""``patron sync``: models in SQLite, PostgreSQL and DuckDB kept in step with a real Patron,
checked through the App API; and against a capture server that answers like Customer.io."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
import yaml

from capture_server import CaptureServer
from live import PATRON, LiveServer, patron
from support import IN_CI, scratch_postgres


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.stop()


class Model:
    """A warehouse table in one of the supported databases."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)

    def run(self, *statements: str, rows: list[dict[str, Any]] | None = None) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), rows or [{}])
        self.engine.dispose()  # DuckDB lets one process at a time open a file


MARIADB_URL = os.environ.get("PATRON_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def mariadb_or_skip() -> sa.engine.Engine:
    """The MariaDB server for MySQL-source tests; skipped when unreachable (failed under CI)."""
    engine = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        engine.dispose()
        reason = f"MariaDB unreachable at {MARIADB_URL}: {exc.__class__.__name__}"
        if IN_CI:
            pytest.fail(reason + " (CI=true requires it)")
        pytest.skip(reason)
    return engine


@pytest.fixture(params=["sqlite", "postgresql", "duckdb", "mariadb"])
def model(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Model]:
    if request.param == "mariadb":
        admin = mariadb_or_skip()
        name = f"warehouse_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        built = Model(str(sa.engine.make_url(MARIADB_URL).set(database=name)
                          .render_as_string(hide_password=False)))  # fmt: skip
        yield built
        built.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
        return
    if request.param == "sqlite":
        yield Model(f"sqlite:///{tmp_path / 'warehouse.db'}")
        return
    if request.param == "duckdb":
        built = Model(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
        yield built
        built.engine.dispose()
        return
    with scratch_postgres("warehouse") as url:
        built = Model(url)
        yield built
        built.engine.dispose()


class Patron:
    """The live server seen through the App API."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        creds = server.creds
        self.http = httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {creds['app_api_key']}"}
        )
        self.basic = httpx.BasicAuth(creds["site_id"], creds["track_api_key"])

    def destination(self) -> dict[str, Any]:
        creds = self.server.creds
        return {"track_url": self.server.base, "app_url": self.server.base,
                "site_id": creds["site_id"], "track_api_key": creds["track_api_key"],
                "app_api_key": creds["app_api_key"]}  # fmt: skip

    def person(self, ident: str) -> dict[str, Any] | None:
        response = self.http.get(f"/v1/customers/{ident}/attributes")
        if response.status_code == 404:
            return None
        attributes: dict[str, Any] = response.json()["customer"]["attributes"]
        return attributes

    def events(self, ident: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.http.get(
            f"/v1/customers/{ident}/activities", params={"type": "event", "limit": 1000}
        ).json()["activities"]
        return found


@pytest.fixture
def cio(live_sqlite: LiveServer) -> Patron:
    return Patron(live_sqlite)


def write_config(folder: Path, *syncs: dict[str, Any]) -> Path:
    path = folder / "syncs.yaml"
    path.write_text(yaml.safe_dump({"syncs": list(syncs)}))
    return path


def sync_run(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return patron("sync", "run", str(config), *args, env=env)


def last_run(config: Path, name: str) -> dict[str, Any]:
    conn = sqlite3.connect(config.parent / ".patron-sync" / "state.db")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT * FROM runs WHERE sync = ? ORDER BY id DESC LIMIT 1", (name,)
        ).fetchone()
        return dict(row)
    finally:
        conn.close()


def test_customers_follow_the_model(model: Model, cio: Patron, tmp_path: Path) -> None:
    p = f"c{uuid.uuid4().hex[:6]}-"
    model.run("CREATE TABLE users (user_id VARCHAR(200), email VARCHAR(200), plan VARCHAR(200),"
              " score DECIMAL(8,2), signup_at VARCHAR(200), extra VARCHAR(200))")  # fmt: skip
    users = [
        {"u": f"{p}1", "e": f"{p}1@example.com", "plan": "pro", "s": 1.5,
         "at": "2024-01-02 03:04:05"},
        {"u": f"{p}2", "e": None, "plan": "free", "s": 2, "at": "2024-01-02T03:04:05Z"},
        {"u": f"{p}3", "e": None, "plan": "free", "s": None, "at": None},
    ]  # fmt: skip
    model.run("INSERT INTO users VALUES (:u, :e, :plan, :s, :at, 'x')", rows=users)
    config = write_config(tmp_path, {
        "name": "people", "type": "customers", "mode": "upsert",
        "source": {"url": model.url, "query": "SELECT * FROM users", "primary_key": "user_id"},
        "destination": cio.destination(),
        "match": {"column": "user_id", "on": "id"},
        "mapping": {"email": "email", "plan": "plan", "score": "score", "signup_at": "created_at"},
        "on_delete": "clear_fields",
    })  # fmt: skip
    first = sync_run(config)
    assert first.returncode == 0, first.stdout + first.stderr
    one = cio.person(f"{p}1")
    assert one is not None and one["plan"] == "pro" and one["score"] == "1.5"
    assert one["email"] == f"{p}1@example.com" and one["created_at"] == "1704164645"
    two = cio.person(f"{p}2")
    assert two is not None and two["created_at"] == "1704164645" and two["score"] == "2"
    assert last_run(config, "people")["added"] == 3

    # Something the model does not map survives everything the sync does.
    cio.http.put(f"/api/v1/customers/{p}3", json={"kept": "yes"}, auth=cio.basic)
    model.run(f"UPDATE users SET plan = 'team' WHERE user_id = '{p}1'",
              f"DELETE FROM users WHERE user_id = '{p}3'",
              f"INSERT INTO users VALUES ('{p}4', NULL, 'pro', 4, NULL, 'y')")  # fmt: skip
    second = sync_run(config)
    assert second.returncode == 0, second.stdout + second.stderr
    run = last_run(config, "people")
    assert (run["added"], run["changed"], run["removed"], run["requests"]) == (1, 1, 1, 1)
    one = cio.person(f"{p}1")
    assert one is not None and one["plan"] == "team"
    gone = cio.person(f"{p}3")
    assert gone is not None and gone["kept"] == "yes" and "plan" not in gone
    assert cio.person(f"{p}4") is not None

    third = sync_run(config)
    assert third.returncode == 0
    assert last_run(config, "people")["requests"] == 0  # nothing changed, nothing sent

    status = patron("sync", "status", str(config))
    assert "people" in status.stdout and "healthy" in status.stdout
    anywhere = patron("sync", "status", "--state", str(tmp_path / ".patron-sync"))
    assert "people" in anywhere.stdout and "healthy" in anywhere.stdout


@pytest.mark.parametrize("behaviour", ["nothing", "delete"])
def test_delete_behaviours(behaviour: str, cio: Patron, tmp_path: Path) -> None:
    p = f"d{uuid.uuid4().hex[:6]}-"
    warehouse = Model(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.run("CREATE TABLE t (id TEXT, plan TEXT)")
    warehouse.run("INSERT INTO t VALUES (:id, 'pro')", rows=[{"id": f"{p}{i}"} for i in range(3)])
    config = write_config(tmp_path, {
        "name": "t", "type": "customers",
        "source": {"url": "sqlite:///w.db", "query": "SELECT * FROM t", "primary_key": "id"},
        "destination": cio.destination(), "match": {"column": "id"},
        "mapping": {"plan": "plan"}, "on_delete": behaviour,
    })  # fmt: skip
    assert sync_run(config).returncode == 0
    warehouse.run(f"DELETE FROM t WHERE id = '{p}0'")
    assert sync_run(config).returncode == 0
    left = cio.person(f"{p}0")
    if behaviour == "delete":
        assert left is None
    else:
        assert left is not None and left["plan"] == "pro"
    assert cio.person(f"{p}1") is not None


def test_update_mode_never_creates(cio: Patron, tmp_path: Path) -> None:
    p = f"u{uuid.uuid4().hex[:6]}-"
    cio.http.put(f"/api/v1/customers/{p}known", json={"plan": "old"}, auth=cio.basic)
    rows = tmp_path / "people.csv"
    rows.write_text(f"id,plan\n{p}known,new\n{p}stranger,new\n")
    config = write_config(tmp_path, {
        "name": "upd", "type": "customers", "mode": "update",
        "source": {"file": "people.csv", "primary_key": "id"},
        "destination": cio.destination(), "match": {"column": "id"}, "mapping": {"plan": "plan"},
    })  # fmt: skip
    assert sync_run(config).returncode == 0
    known = cio.person(f"{p}known")
    assert known is not None and known["plan"] == "new"
    assert cio.person(f"{p}stranger") is None


def test_events_are_never_duplicated(cio: Patron, tmp_path: Path) -> None:
    p = f"e{uuid.uuid4().hex[:6]}-"
    warehouse = Model(f"duckdb:///{tmp_path / 'w.duckdb'}")
    warehouse.run("CREATE TABLE orders (order_id INTEGER, user_id VARCHAR, amount DECIMAL(8,2),"
                  " ordered_at TIMESTAMP, anon VARCHAR)")  # fmt: skip
    warehouse.run(
        "INSERT INTO orders VALUES (:o, :u, :a, TIMESTAMP '2024-05-01 10:00:00', NULL)",
        rows=[{"o": i, "u": f"{p}buyer", "a": 9.5 + i} for i in range(4)],
    )
    config = write_config(tmp_path, {
        "name": "orders", "type": "events",
        "source": {"url": f"duckdb:///{tmp_path / 'w.duckdb'}", "query": "SELECT * FROM orders",
                   "primary_key": "order_id"},
        "destination": cio.destination(),
        "event": {"kind": "event", "name": "purchase", "id_column": "order_id",
                  "timestamp_column": "ordered_at"},
        "match": {"column": "user_id", "on": "id"}, "mapping": {"amount": "amount"},
    })  # fmt: skip
    warehouse.engine.dispose()
    assert sync_run(config).returncode == 0
    events = cio.events(f"{p}buyer")
    assert len(events) == 4 and {e["timestamp"] for e in events} == {1714557600}
    assert sorted(e["data"]["amount"] for e in events) == [9.5, 10.5, 11.5, 12.5]
    warehouse.run("UPDATE orders SET amount = 1 WHERE order_id = 0")
    warehouse.run("INSERT INTO orders VALUES (9, :u, 1, NULL, NULL)", rows=[{"u": f"{p}buyer"}])
    warehouse.engine.dispose()
    assert sync_run(config).returncode == 0
    assert last_run(config, "orders")["added"] == 1
    assert sync_run(config, "--full").returncode == 0  # resends; the destination dedups by id
    assert len(cio.events(f"{p}buyer")) == 5


def test_segment_membership_follows_the_model(cio: Patron, tmp_path: Path) -> None:
    p = f"s{uuid.uuid4().hex[:6]}-"
    for i in range(3):
        cio.http.put(f"/api/v1/customers/{p}{i}", json={}, auth=cio.basic)
    rows = tmp_path / "pro.csv"
    rows.write_text(f"user_id\n{p}0\n{p}1\n")
    name = f"Pro users {p}"
    config = write_config(tmp_path, {
        "name": "pro", "type": "segments", "segment": {"name": name},
        "source": {"file": "pro.csv", "primary_key": "user_id"},
        "destination": cio.destination(), "match": {"column": "user_id", "on": "id"},
    })  # fmt: skip
    assert sync_run(config).returncode == 0
    segments = cio.http.get("/v1/segments").json()["segments"]
    [segment] = [s for s in segments if s["name"] == name]

    def members() -> list[str]:
        page = cio.http.get(f"/v1/segments/{segment['id']}/membership", params={"limit": 100})
        return sorted(page.json()["ids"])

    assert members() == [f"{p}0", f"{p}1"]
    rows.write_text(f"user_id\n{p}1\n{p}2\n")
    assert sync_run(config).returncode == 0
    assert members() == [f"{p}1", f"{p}2"]
    again = [s for s in cio.http.get("/v1/segments").json()["segments"] if s["name"] == name]
    assert len(again) == 1


def test_objects_and_relationships(cio: Patron, tmp_path: Path) -> None:
    p = f"o{uuid.uuid4().hex[:6]}-"
    cio.http.put(f"/api/v1/customers/{p}owner", json={}, auth=cio.basic)
    rows = tmp_path / "accounts.csv"
    rows.write_text(f"account,name,owner,role\n{p}acme,Acme,{p}owner,admin\n{p}init,Initech,,\n")
    config = write_config(tmp_path, {
        "name": "accounts", "type": "objects",
        "source": {"file": "accounts.csv", "primary_key": "account"},
        "destination": cio.destination(),
        "object": {"type_id": 1, "id_column": "account",
                   "relationships": {"column": "owner", "on": "id",
                                     "attributes": {"role": "role"}}},
        "mapping": {"name": "name"}, "on_delete": "delete",
    })  # fmt: skip
    assert sync_run(config).returncode == 0
    acme = cio.http.get(f"/v1/objects/1/{p}acme/attributes").json()
    assert "Acme" in json.dumps(acme)
    related = cio.http.get(f"/v1/customers/{p}owner/relationships").json()
    assert f"{p}acme" in json.dumps(related) and "admin" in json.dumps(related)
    rows.write_text(f"account,name,owner,role\n{p}acme,Acme,{p}owner,admin\n")
    assert sync_run(config).returncode == 0
    assert cio.http.get(f"/v1/objects/1/{p}init/attributes").status_code == 404


def capture_config(tmp_path: Path, capture: CaptureServer, rows: int, **extra: Any) -> Path:
    source = tmp_path / "people.csv"
    pad = extra.pop("pad", "x")
    body = "\n".join(f"p{i},{'bad' if i % 5 == 0 else 'good'},{pad}" for i in range(rows))
    source.write_text("id,kind,pad\n" + body + "\n")
    sync = {
        "name": "people", "type": "customers",
        "source": {"file": "people.csv", "primary_key": "id"},
        "destination": {"track_url": capture.base, "site_id": "s", "track_api_key": "k"},
        "match": {"column": "id"}, "mapping": {"kind": "kind", "pad": "pad"}, **extra,
    }  # fmt: skip
    return write_config(tmp_path, sync)


def sent_ids(capture: CaptureServer) -> list[str]:
    return [op["identifiers"]["id"] for body in capture.script.bodies("/api/v2/batch")
            for op in body["batch"]]  # fmt: skip


def test_partial_failures_are_retried_on_later_runs(capture: CaptureServer, tmp_path: Path) -> None:
    config = capture_config(tmp_path, capture, 20)
    capture.script.fail_when = '"bad"'
    first = sync_run(config)
    assert first.returncode == 1  # rows failed
    assert sorted(sent_ids(capture)) == sorted(f"p{i}" for i in range(20))
    debug = patron("sync", "debug", "people", "--config", str(config), "--row", "p5")
    assert "is failing" in debug.stdout and "refused by the capture server" in debug.stdout
    capture.script.received.clear()
    capture.script.fail_when = None
    second = sync_run(config)
    assert second.returncode == 0, second.stdout
    assert sorted(sent_ids(capture)) == sorted(f"p{i}" for i in range(0, 20, 5))
    capture.script.received.clear()
    assert sync_run(config).returncode == 0
    assert sent_ids(capture) == []


def test_batches_keep_the_limits_and_429_is_retried(capture: CaptureServer, tmp_path: Path) -> None:
    pad = "y" * 20_000  # ~20 KB an operation: about 25 to a 500 KB batch
    config = capture_config(tmp_path, capture, 120, pad=pad, rate_limit=4)
    huge = tmp_path / "people.csv"
    huge.write_text(huge.read_text() + "toolarge,good," + "z" * 40_000 + "\n")
    capture.script.too_many, capture.script.retry_after = 1, 1
    started = time.monotonic()
    result = sync_run(config)
    elapsed = time.monotonic() - started
    assert result.returncode == 1  # the 40 KB row cannot be sent
    received = capture.script.received
    assert received[0]["status"] == 429
    [retry] = [r for r in received[1:] if r["body"] == received[0]["body"]]
    assert retry["status"] == 200 and retry["at"] - received[0]["at"] >= 0.9  # Retry-After
    assert all(r["size"] <= 500 * 1024 for r in received)
    assert sorted(sent_ids(capture)) == sorted(f"p{i}" for i in range(120))
    accepted = [r for r in received if r["status"] < 300]
    assert len(accepted) >= 5
    # 4 requests a second: the accepted ones cannot have gone faster than the bucket allows.
    span = accepted[-1]["at"] - received[0]["at"]
    assert span >= (len(received) - 4) / 4 - 0.3, (span, len(received), elapsed)
    debug = patron("sync", "debug", "people", "--config", str(config), "--row", "toolarge")
    assert "32 KB" in debug.stdout


def test_a_killed_run_resumes_without_loss(capture: CaptureServer, tmp_path: Path) -> None:
    pad = "q" * 20_000
    config = capture_config(tmp_path, capture, 150, pad=pad, concurrency=1)
    capture.script.delay = 0.3
    proc = subprocess.Popen(
        [PATRON, "sync", "run", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while len(capture.script.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    time.sleep(0.6)  # the request the killed run had in flight is still being answered
    state = sqlite3.connect(tmp_path / ".patron-sync" / "state.db")
    recorded = {k for (k,) in state.execute("SELECT key FROM rows WHERE sync = 'people'")}
    state.close()
    assert 0 < len(recorded) < 150
    first_round = set(sent_ids(capture))
    capture.script.received.clear()
    capture.script.delay = 0
    assert sync_run(config).returncode == 0
    second_round = sent_ids(capture)
    assert not recorded & set(second_round)  # acknowledged and recorded: never sent again
    assert first_round | set(second_round) == {f"p{i}" for i in range(150)}
    assert len(second_round) == len(set(second_round))


def test_dry_run_sends_nothing_and_bad_configs_are_refused(
    capture: CaptureServer, tmp_path: Path
) -> None:
    config = capture_config(tmp_path, capture, 7)
    dry = sync_run(config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry_run" in dry.stdout and '"identifiers"' in dry.stdout
    assert capture.script.received == []
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"syncs": [{"name": "x", "type": "customers",
        "source": {"file": "a.csv", "primary_key": "id"},
        "destination": {"track_url": "${NO_SUCH_VARIABLE}", "site_id": "s", "track_api_key": "k"},
        "match": {"column": "id"}}]}))  # fmt: skip
    refused = sync_run(broken)
    assert refused.returncode != 0 and "NO_SUCH_VARIABLE" in refused.stderr
    runs = patron("sync", "runs", "people", "--config", str(config))
    assert "dry_run" in runs.stdout


def test_alerts_on_state_changes_only(capture: CaptureServer, tmp_path: Path) -> None:
    hooks: list[Any] = []
    hook_server = CaptureServer()
    try:
        config = capture_config(
            tmp_path, capture, 10, alerts={"webhook": f"{hook_server.base}/api/v1/segments/1/hook"}
        )
        capture.script.fail_when = '"bad"'
        sync_run(config)
        sync_run(config)  # still failing: no second alert
        capture.script.fail_when = None
        sync_run(config)
        sync_run(config)
        hooks = [r["body"]["text"] for r in hook_server.script.received]
    finally:
        hook_server.stop()
    assert len(hooks) == 2, hooks
    assert "failing" in hooks[0] and "healthy again" in hooks[1]


def test_files_email_matches_and_composite_keys(cio: Patron, tmp_path: Path) -> None:
    p = f"f{uuid.uuid4().hex[:6]}"
    import duckdb

    duckdb.sql(
        f"COPY (SELECT * FROM (VALUES ('{p}a@example.com', 'eu', 1, DATE '2024-03-01'),"
        f" ('{p}a@example.com', 'us', 2, DATE '2024-03-02'),"
        f" ('{p}b@example.com', 'eu', 3, NULL)) t(email, region, seats, since))"
        f" TO '{tmp_path / 'seats.parquet'}' (FORMAT parquet)"
    )
    config = write_config(tmp_path, {
        "name": "seats", "type": "customers",
        "source": {"file": "seats.parquet", "primary_key": ["email", "region"]},
        "destination": cio.destination(), "match": {"column": "email", "on": "email"},
        "mapping": {"seats": "seats", "since": "since", "region": "region"},
    })  # fmt: skip
    result = sync_run(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_run(config, "seats")["added"] == 3
    found = cio.http.get("/v1/customers", params={"email": f"{p}a@example.com"}).json()
    assert len(found["results"]) == 1  # two rows, one person: matched by email
    via_email = cio.http.get(
        f"/v1/customers/{p}a@example.com/attributes", params={"id_type": "email"}
    ).json()["customer"]["attributes"]
    since = {"eu": "1709251200", "us": "1709337600"}  # DATE → unix seconds at UTC midnight
    assert via_email["since"] == since[via_email["region"]]
    other = cio.http.get(
        f"/v1/customers/{p}b@example.com/attributes", params={"id_type": "email"}
    ).json()["customer"]["attributes"]
    assert other["seats"] == "3" and "since" not in other
    debug = patron("sync", "debug", "seats", "--config", str(config), "--row",
                   json.dumps([f"{p}a@example.com", "eu"]).replace(" ", ""))  # fmt: skip
    assert "not failing" in debug.stdout and "200" in debug.stdout


def test_overlapping_runs_never_happen_and_every_repeats(
    capture: CaptureServer, tmp_path: Path
) -> None:
    config = capture_config(tmp_path, capture, 30, concurrency=1, pad="w" * 20_000)
    capture.script.delay = 3.0  # two batches: the first run takes about 6 s
    slow = subprocess.Popen([PATRON, "sync", "run", str(config)], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not capture.script.received and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    busy = sync_run(config)
    assert slow.poll() is None, "the first run ended before the second began"
    assert busy.returncode == 1 and "busy" in busy.stdout, busy.stdout + busy.stderr
    assert slow.wait(timeout=60) == 0
    capture.script.delay = 0
    capture.script.received.clear()
    source = tmp_path / "people.csv"
    every = subprocess.Popen(
        [PATRON, "sync", "run", str(config), "--every", "1s"], stdout=subprocess.PIPE
    )
    try:
        time.sleep(1.5)
        source.write_text(source.read_text() + "late,good,x\n")
        deadline = time.monotonic() + 20
        while "late" not in sent_ids(capture) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "late" in sent_ids(capture), capture.script.received
    finally:
        every.send_signal(signal.SIGINT)
        stopped = every.wait(timeout=30)
    assert stopped == 0  # the first SIGINT ends the loop between runs, cleanly


def test_failing_rows_that_leave_the_model_stop_failing(
    capture: CaptureServer, tmp_path: Path
) -> None:
    config = capture_config(tmp_path, capture, 10)
    capture.script.fail_when = '"bad"'
    assert sync_run(config).returncode == 1
    source = tmp_path / "people.csv"
    kept = [line for line in source.read_text().splitlines() if ",bad," not in line]
    source.write_text("\n".join(kept) + "\n")
    assert sync_run(config).returncode == 0
    status = patron("sync", "status", str(config))
    assert "healthy" in status.stdout


def test_csv_cells_stay_text(capture: CaptureServer, tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text("id,zip,when\n007,01234,2024-01-02\n")
    config = write_config(tmp_path, {
        "name": "ids", "type": "customers", "source": {"file": "ids.csv", "primary_key": "id"},
        "destination": {"track_url": capture.base, "site_id": "s", "track_api_key": "k"},
        "match": {"column": "id"}, "mapping": {"zip": "zip", "when": "when"},
    })  # fmt: skip
    assert sync_run(config).returncode == 0
    [body] = capture.script.bodies("/api/v2/batch")
    [op] = body["batch"]
    assert op["identifiers"] == {"id": "007"}
    assert op["attributes"] == {"zip": "01234", "when": 1704153600}


def test_status_runs_and_debug_need_no_credentials_and_refuse_unknown_names(
    capture: CaptureServer, tmp_path: Path
) -> None:
    (tmp_path / "people.csv").write_text("id,plan\np1,pro\n")
    config = write_config(tmp_path, {
        "name": "people", "type": "customers",
        "source": {"file": "people.csv", "primary_key": "id"},
        "destination": {"track_url": capture.base, "site_id": "${SYNC_SITE_ID}",
                        "track_api_key": "${SYNC_TRACK_KEY}"},
        "match": {"column": "id"}, "mapping": {"plan": "plan"},
    })  # fmt: skip
    secrets = {"SYNC_SITE_ID": "s", "SYNC_TRACK_KEY": "k"}
    assert sync_run(config, env=secrets).returncode == 0
    run_id = last_run(config, "people")["id"]

    # Looking at the state sends nothing, so the credentials' variables may be unset.
    status = patron("sync", "status", str(config))
    assert status.returncode == 0, status.stderr
    assert "people" in status.stdout and "healthy" in status.stdout
    runs = patron("sync", "runs", "people", "--config", str(config))
    assert runs.returncode == 0 and "ok" in runs.stdout
    debug = patron("sync", "debug", "people", "--run", str(run_id), "--config", str(config))
    assert debug.returncode == 0 and "/api/v2/batch" in debug.stdout

    for command in (["runs", "nobody"], ["debug", "nobody"]):
        unknown = patron("sync", *command, "--config", str(config))
        assert unknown.returncode != 0
        assert "no sync named 'nobody'" in unknown.stderr and "known: people" in unknown.stderr
        bare = patron("sync", *command, "--state", str(tmp_path / ".patron-sync"))
        assert bare.returncode != 0 and "no sync named 'nobody'" in bare.stderr
    no_run = patron("sync", "debug", "people", "--run", str(run_id + 100), "--config", str(config))
    assert no_run.returncode != 0 and f"no run {run_id + 100}" in no_run.stderr
