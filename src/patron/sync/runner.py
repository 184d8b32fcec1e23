"""One run of one sync: lock, diff, send, record, alert."""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import fcntl
import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx2 as httpx
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patron.sync import send, sources
from patron.sync.config import ConfigError, Sync
from patron.sync.plan import Change, Counts, diff
from patron.sync.state import State

SAMPLES = 3
RECORD_STEP = 10_000  # state rows written per transaction outside of requests


def _sendable(sync: Sync, change: Change) -> bool:
    """Whether a change goes out in a request (segments send removals by identifier)."""
    if change.error is not None:
        return False
    if sync.type == "segments":
        return change.kind != "removed" or change.ident is not None
    return change.op is not None


class Outcome(msgspec.Struct):
    """What a run did."""

    run_id: int
    status: str  # ok | failed_rows | error | dry_run | busy
    counts: Counts
    sent: int = 0
    failed: int = 0
    requests: int = 0
    error: str | None = None
    samples: list[dict[str, Any]] = []


@contextlib.contextmanager
def _lock(folder: Path, name: str) -> Iterator[bool]:
    """Hold the sync's lock file, or yield False when another run holds it."""
    path = folder / f"{''.join(c if c.isalnum() or c in '-_' else '_' for c in name)}.lock"
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Spool:
    """Changes written to a temporary file as they are found, read back to send."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.encoder = msgspec.msgpack.Encoder()

    def add(self, change: Change) -> None:
        data = self.encoder.encode(change)
        self.file.write(len(data).to_bytes(4, "big") + data)

    def __iter__(self) -> Iterator[Change]:
        self.file.seek(0)
        decoder = msgspec.msgpack.Decoder(Change)
        while head := self.file.read(4):
            yield decoder.decode(self.file.read(int.from_bytes(head, "big")))

    def close(self) -> None:
        self.file.close()


def resolve_segment(sync: Sync, state: State, dry_run: bool) -> int | None:
    """The id of the segment a segments sync fills: configured, remembered, found by name on
    the App API, or created there."""
    spec = sync.segment
    if spec is not None and spec.id is not None:
        return spec.id
    remembered = state.sync_value(sync.name, "segment_id")
    if remembered is not None:
        return int(remembered)
    name = (spec.name if spec is not None else None) or sync.name
    _, app_url = sync.destination.urls()
    headers = {"Authorization": f"Bearer {sync.destination.app_api_key}"}
    with httpx.Client(base_url=app_url, headers=headers, timeout=30) as http:
        listed = http.get("/v1/segments")
        if listed.status_code in (401, 403):
            raise send.Abort(f"{app_url} answered {listed.status_code}: check app_api_key")
        listed.raise_for_status()
        found = [s for s in listed.json().get("segments") or [] if s.get("name") == name]
        if found:
            segment_id = int(found[0]["id"])
        elif dry_run:
            return None
        else:
            created = http.post("/v1/segments", json={"segment": {"name": name}})
            created.raise_for_status()
            segment_id = int(created.json()["segment"]["id"])
    state.set_sync_value(sync.name, "segment_id", segment_id)
    return segment_id


class Runner:
    """Runs syncs of one config against their destinations, keeping state in ``state``."""

    def __init__(self, state: State, base: Path, console: Console | None = None) -> None:
        self.state = state
        self.base = base
        self.console = console or Console(stderr=True)

    def run(self, sync: Sync, *, dry_run: bool = False, full: bool = False) -> Outcome:
        """One run; never raises for what the destination or the model did (see ``status``)."""
        with _lock(self.state.folder, sync.name) as held:
            if not held:
                return Outcome(0, "busy", Counts(), error="another run of this sync is going on")
            run_id = self.state.start_run(sync.name, dry_run, full)
            self.state.prune(sync.keep_days)
            counts = Counts()
            try:
                outcome = self._run(sync, run_id, counts, dry_run, full)
            except (ConfigError, send.Abort, httpx.HTTPError) as exc:
                outcome = Outcome(run_id, "error", counts, error=str(exc))
            except Exception as exc:  # a bug or an unusual failure: keep the run's record true
                self.console.print_exception()
                outcome = Outcome(run_id, "error", counts, error=f"{type(exc).__name__}: {exc}")
            self.state.finish_run(
                run_id, outcome.status, outcome.error, added=counts.added,
                changed=counts.changed, removed=counts.removed, failed=outcome.failed,
                requests=outcome.requests,
            )  # fmt: skip
            if not dry_run:
                self._alert(sync, outcome)
            return outcome

    def _run(self, sync: Sync, run_id: int, counts: Counts, dry_run: bool, full: bool) -> Outcome:
        acked = self.state.acknowledged(sync.name)
        if full:
            # Every row differs (events: none was sent); rows that left are still found.
            acked_for_diff = {} if sync.type == "events" else dict.fromkeys(acked, -1)
        else:
            acked_for_diff = acked
        failed_before = self.state.failed_keys(sync.name)
        segment_id = None
        if sync.type == "segments":
            segment_id = resolve_segment(sync, self.state, dry_run)
        spool = Spool()
        try:
            with self._progress() as progress:
                task = progress.add_task(f"{sync.name}: reading the model", total=None)
                rows = sources.rows(sync.source, self.base)

                def counted() -> Iterator[dict[str, Any]]:
                    for number, row in enumerate(rows, 1):
                        if number % 1000 == 0:
                            progress.update(task, completed=number)
                        yield row

                seen: set[str] = set()
                for change in diff(
                    sync, counted(), acked_for_diff, failed_before,
                    lambda keys: self.state.idents(sync.name, keys), counts, seen,
                ):  # fmt: skip
                    spool.add(change)
            # A failing row that left the model (and was never acknowledged) is not failing.
            stale = failed_before - seen - acked.keys()
            if stale and not dry_run:
                self.state.record(sync.name, [], sorted(stale), [], run_id)
            if dry_run:
                return Outcome(run_id, "dry_run", counts, samples=self._samples(spool))
            return self._send(sync, run_id, counts, spool, segment_id)
        finally:
            spool.close()

    def _samples(self, spool: Spool) -> list[dict[str, Any]]:
        shown: dict[str, int] = {}
        samples = []
        for change in spool:
            if shown.get(change.kind, 0) < SAMPLES:
                shown[change.kind] = shown.get(change.kind, 0) + 1
                samples.append({"kind": change.kind, "key": change.key, "operation": change.op,
                                "identifier": change.ident, "error": change.error})  # fmt: skip
        return samples

    def _send(
        self, sync: Sync, run_id: int, counts: Counts, spool: Spool, segment_id: int | None
    ) -> Outcome:
        outcome = Outcome(run_id, "ok", counts)
        total = self._record_unsendable(sync, run_id, spool, outcome)

        # The spool is read again for sending, lazily: a first run of millions of rows never
        # holds its operations in memory at once.
        def sendable(wanted: Callable[[Change], bool]) -> Iterator[Change]:
            return (c for c in spool if _sendable(sync, c) and wanted(c))

        rejected: list[tuple[Change, str]] = []
        requests: Iterable[send.Request]
        if sync.type == "segments":
            assert segment_id is not None and sync.match is not None
            joining = sendable(lambda c: c.kind != "removed")
            leaving = sendable(lambda c: c.kind == "removed")
            # One after the other (both read the same spool file).
            requests = itertools.chain(
                send.membership(joining, segment_id, sync.match.on, True),
                send.membership(leaving, segment_id, sync.match.on, False),
            )
        else:
            requests = send.batches(sendable(lambda c: True), rejected)
        track_url, _ = sync.destination.urls()
        client = send.Client(
            track_url, sync.destination.site_id, sync.destination.track_api_key,
            sync.rate_limit, sync.max_attempts,
        )  # fmt: skip
        try:
            with self._progress() as progress, futures.ThreadPoolExecutor(sync.concurrency) as pool:
                task = progress.add_task(f"{sync.name}: sending", total=total)
                pending: dict[futures.Future[Any], send.Request] = {}

                def settle(block: bool) -> None:
                    until = futures.FIRST_COMPLETED if block else futures.ALL_COMPLETED
                    done, _ = futures.wait(pending, return_when=until)
                    for future in done:
                        request = pending.pop(future)
                        self._settle(sync, run_id, request, future.result(), outcome)
                        progress.advance(task, len(request.changes))

                for request in requests:
                    while len(pending) >= sync.concurrency * 2:
                        settle(True)
                    pending[pool.submit(client.send, request)] = request
                while pending:
                    settle(False)
                if rejected:
                    failures: list[tuple[str, str, str]] = [
                        (c.key, c.kind, why) for c, why in rejected
                    ]
                    self.state.record(sync.name, [], [], failures, run_id)
                    outcome.failed += len(rejected)
                    progress.advance(task, len(rejected))
        except send.Abort as exc:
            outcome.status, outcome.error = "error", str(exc)
            return outcome
        finally:
            client.close()
        if outcome.failed:
            outcome.status = "failed_rows"
        return outcome

    def _record_unsendable(self, sync: Sync, run_id: int, spool: Spool, outcome: Outcome) -> int:
        """Record what needs no request (rows that cannot be sent; removals with nothing to
        send) in steps; returns how many changes remain to send."""
        sendable = 0
        quiet: list[str] = []
        failures: list[tuple[str, str, str]] = []
        for change in spool:
            if change.error is not None:
                failures.append((change.key, change.kind, change.error))
            elif _sendable(sync, change):
                sendable += 1
            elif sync.type != "segments" and change.kind == "removed":
                quiet.append(change.key)  # on_delete: nothing
            if len(quiet) + len(failures) >= RECORD_STEP:
                self.state.record(sync.name, [], quiet, failures, run_id)
                outcome.failed += len(failures)
                quiet, failures = [], []
        self.state.record(sync.name, [], quiet, failures, run_id)
        outcome.failed += len(failures)
        return sendable

    def _settle(
        self,
        sync: Sync,
        run_id: int,
        request: send.Request,
        result: tuple[list[send.Attempt], httpx.Response | None],
        outcome: Outcome,
    ) -> None:
        tries, response = result
        answers = send.outcomes(request, response)
        for number, attempt in enumerate(tries, 1):
            final = number == len(tries)
            rows: list[tuple[str, int | None, str]] = [
                (c.key, position, ("ok" if answers[position] is None else "failed") if final
                 else "retried")
                for position, c in enumerate(request.changes)
            ]  # fmt: skip
            self.state.log_request(run_id, sync.name, msgspec.to_builtins(attempt), rows)
        outcome.requests += len(tries)
        acked: list[tuple[str, int, str | None]] = []
        removed: list[str] = []
        failed: list[tuple[str, str, str]] = []
        for position, change in enumerate(request.changes):
            why = answers[position]
            if why is not None:
                failed.append((change.key, change.kind, why))
            elif change.kind == "removed":
                removed.append(change.key)
            else:
                acked.append((change.key, change.hash, change.ident))
        self.state.record(sync.name, acked, removed, failed, run_id)
        outcome.sent += len(acked) + len(removed)
        outcome.failed += len(failed)

    def _alert(self, sync: Sync, outcome: Outcome) -> None:
        """Tell the webhook when the sync's health changes (not on every run)."""
        threshold = sync.alerts.failed_rows if sync.alerts is not None else 1
        failing = outcome.status == "error" or outcome.failed >= threshold
        health = "failing" if failing else "healthy"
        before = self.state.sync_value(sync.name, "health")
        self.state.set_sync_value(sync.name, "health", health)
        if sync.alerts is None or before == health or (before is None and not failing):
            return
        if failing:
            why = outcome.error or f"{outcome.failed} rows failed"
            text = f"Patron sync '{sync.name}' is failing: {why} (run {outcome.run_id})"
        else:
            text = f"Patron sync '{sync.name}' is healthy again (run {outcome.run_id})"
        try:
            httpx.post(sync.alerts.webhook, json={"text": text}, timeout=10)
        except httpx.HTTPError as exc:
            self.console.print(f"[yellow]could not reach the alert webhook: {exc}[/yellow]")

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
