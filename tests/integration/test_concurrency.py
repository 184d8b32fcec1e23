"""Identity under concurrency: one identifier never belongs to two people."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from patron.domain.attributes import parse_identify
from patron.domain.identifiers import Identifier
from patron.store.apply import apply
from patron.store.database import Database
from patron.store.schema import people


def _identify_all_at_once(databases: list[Database], ws: int, clients: int) -> list[BaseException]:
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []

    def client(i: int) -> None:
        db = databases[i % len(databases)]
        # Half address the person by id, half by email; both name the same pair.
        if i % 2:
            op = parse_identify(
                Identifier("id", "racer"), {"email": "Racer@Example.com", f"a{i}": i}
            )
        else:
            op = parse_identify(
                Identifier("email", "racer@example.com"), {"id": "racer", f"a{i}": i}
            )
        barrier.wait()
        try:
            db.write_sync(lambda conn: apply(conn, ws, [op]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def _people(db: Database, ws: int) -> list[sa.Row[tuple[str | None, str | None, dict[str, int]]]]:
    return db.read_sync(
        lambda c: list(
            c.execute(
                sa.select(people.c.external_id, people.c.email_key, people.c.attributes).where(
                    people.c.workspace_id == ws
                )
            )
        )
    )


def test_sixteen_clients_identifying_the_same_new_person(db_url: str) -> None:
    from support import new_workspace

    # On PostgreSQL, two Database objects stand in for two API processes, each with several
    # writer threads; on SQLite there is one writer per file by design.
    count = 1 if db_url.startswith("sqlite") else 2
    databases = [Database(db_url, writer_threads=4, read_pool_size=1) for _ in range(count)]
    try:
        ws = new_workspace(databases[0]).workspace_id
        errors = _identify_all_at_once(databases, ws, 16)
        assert errors == []
        rows = _people(databases[0], ws)
        assert len(rows) == 1
        assert rows[0].external_id == "racer" and rows[0].email_key == "racer@example.com"
        # Every client's attribute landed on the one person.
        assert {f"a{i}" for i in range(16)} <= set(rows[0].attributes)
    finally:
        for db in databases:
            db.close()


def test_concurrent_batches_naming_the_same_new_people(db_url: str) -> None:
    from patron.domain.operations import TrackEvent
    from patron.store.apply import apply_each
    from patron.store.schema import activities
    from support import new_workspace

    count = 1 if db_url.startswith("sqlite") else 2
    databases = [Database(db_url, writer_threads=4, read_pool_size=1) for _ in range(count)]
    clients, names = 8, [f"p{n}" for n in range(40)]
    try:
        ws = new_workspace(databases[0]).workspace_id
        barrier = threading.Barrier(clients)
        errors: list[dict[int, object]] = []

        def client(i: int) -> None:
            # Every batch creates (or updates) the same 40 people, in a different order, and
            # gives each an event: the bulk path's creates race across transactions.
            order = names[i % len(names) :] + names[: i % len(names)]
            ops = []
            for name in order:
                ops.append(parse_identify(Identifier("id", name), {f"a{i}": i}))
                ops.append(TrackEvent(name="race", who=Identifier("id", name)))
            barrier.wait()
            db = databases[i % len(databases)]
            errors.append(db.write_sync(lambda conn: apply_each(conn, ws, ops)))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == [{}] * clients
        rows = _people(databases[0], ws)
        assert sorted(r.external_id for r in rows) == sorted(names)
        assert all(set(r.attributes) == {f"a{i}" for i in range(clients)} for r in rows)
        events = databases[0].read_sync(
            lambda c: c.execute(
                sa.select(sa.func.count()).where(
                    activities.c.workspace_id == ws, activities.c.name == "race"
                )
            ).scalar_one()
        )
        assert events == clients * len(names)
    finally:
        for db in databases:
            db.close()
