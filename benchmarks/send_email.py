"""Transactional email: POST /v1/send/email to SMTP receipt, against plain aiosmtplib, same run.

Usage: python benchmarks/send_email.py [--messages 2000] [--clients 8] [--rate 100]
       [--duration 10] [--postgres URL]

(Not ``email.py``: a script of that name in benchmarks/ would shadow the standard library's
``email`` package for every benchmark here, since Python puts the script's folder first on
``sys.path``.)

1. An aiosmtpd sink on a loopback port, in a process of its own, counts messages and records
   when each arrived by its ``X-CIO-Delivery-ID`` header (``time.perf_counter``: the system's
   monotonic clock, the same in every process).
2. ``patron serve --dev`` on a fresh SQLite file (``--postgres URL``: a fresh database there,
   dropped afterwards) with ``PATRON_SMTP_URL`` at the sink; a transactional template applied
   with ``POST /__patron/apply`` (subject and HTML from customer and trigger data, a for loop,
   links, a date, CSS) and the people identified first (Track v2 batch).
3. Baseline: the same number of messages, rendered and built as MIME bytes beforehand
   (``EmailMessage``), sent with aiosmtplib to the same sink, one reused connection per client;
   run before and after Patron's throughput run, the mean taken.
4. Throughput: ``--messages`` sends from ``--clients`` concurrent clients; emails/s from the
   first request to the last SMTP receipt. Target: Patron / baseline >= 0.5.
5. Latency: ``--rate`` sends a second (open loop) for ``--duration`` seconds; p50/p99 from the
   start of each request to its SMTP receipt. Target: p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2 as httpx

from batch import basic, post_all, serve
from identify import free_port, rss_peak_mb
from report import emit, row

SENDER = "Shop <orders@shop.example>"
SUBJECT = "Your order {{ trigger.order_id }} is on its way, {{ customer.first_name }}"
BODY = """<html><head><style>
  body { font-family: sans-serif; } td { padding: 4px 8px; } .total { font-weight: bold; }
</style></head><body>
<p>Hi {{ customer.first_name }},</p>
<p>Thanks for your order of {{ trigger.placed_at | date: "%B %-d, %Y" }}. Here is what we
packed for you:</p>
<table>
{% for item in trigger.items %}<tr><td>{{ item.name }}</td><td>{{ item.quantity }}</td>
<td>{{ item.price | currency }}</td></tr>
{% endfor %}</table>
<p class="total">Total: {{ trigger.total | currency }}</p>
<p><a href="https://shop.example/orders/{{ trigger.order_id }}">Track your order</a></p>
<p><a href="{% unsubscribe_url %}">Unsubscribe</a></p>
</body></html>
"""
DOC = {
    "transactional": [
        {"id": 1, "name": "order shipped", "from": SENDER, "subject": SUBJECT, "body": BODY}
    ]
}
DELIVERY_HEADER = re.compile(rb"^X-CIO-Delivery-ID:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)


# -- the SMTP sink, in a process of its own ---------------------------------------------------


class _Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: dict[str, float] = {}
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.perf_counter()
        raw: bytes = envelope.original_content or envelope.content
        end = raw.find(b"\r\n\r\n")
        found = DELIVERY_HEADER.search(raw, 0, end if end >= 0 else len(raw))
        with self.lock:
            self.messages += 1
            self.bytes += len(raw)
            if found is not None:
                self.received.setdefault(found.group(1).decode(), at)
        return "250 Message accepted"


def _sink_main(port: int, pipe: Connection) -> None:
    from aiosmtpd.controller import Controller

    handler = _Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while True:
        command, count, timeout = pipe.recv()
        if command == "stop":
            controller.stop()
            pipe.send("stopped")
            return
        if command == "reset":
            with handler.lock:
                handler.received, handler.messages, handler.bytes = {}, 0, 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(handler.received) < count:
            time.sleep(0.005)
        with handler.lock:
            pipe.send((dict(handler.received), handler.messages, handler.bytes))


@dataclass
class Receipts:
    """What the sink got: receive time by delivery id, messages in all (duplicates too), bytes."""

    at: dict[str, float]
    messages: int
    bytes: int


class Sink:
    """The aiosmtpd sink process; ``wait(n)`` blocks until ``n`` distinct deliveries arrived."""

    def __init__(self, port: int, pipe: Connection) -> None:
        self.port = port
        self.pipe = pipe

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.pipe.send(("reset", 0, 0.0))
        self.pipe.recv()

    def wait(self, count: int, timeout: float) -> Receipts:
        self.pipe.send(("wait", count, timeout))
        return Receipts(*self.pipe.recv())


@contextlib.contextmanager
def sink() -> Iterator[Sink]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    port = free_port()
    proc = ctx.Process(target=_sink_main, args=(port, theirs), daemon=True)
    proc.start()
    try:
        if not ours.poll(30) or ours.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")
        yield Sink(port, ours)
    finally:
        if proc.is_alive():
            ours.send(("stop", 0, 0.0))
            ours.poll(10)
        proc.join(10)


# -- what is sent -----------------------------------------------------------------------------


def order(n: int, people: int) -> tuple[str, dict[str, Any]]:
    """The person and the trigger data of message ``n``."""
    items: list[dict[str, Any]] = [
        {"name": f"Item {n % 50 + k}", "quantity": k + 1, "price": 9.5 + k * 3} for k in range(3)
    ]
    total = sum(i["quantity"] * i["price"] for i in items)
    data = {"order_id": f"A{n:06d}", "placed_at": 1764660000 + n * 60, "items": items}
    return f"user{n % people}", {**data, "total": total}


def send_bodies(start: int, count: int, people: int) -> list[bytes]:
    bodies = []
    for n in range(start, start + count):
        person, data = order(n, people)
        body = {
            "transactional_message_id": 1,
            "to": f"{person}@example.com",
            "identifiers": {"id": person},
            "message_data": data,
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def identify_batch(people: int) -> bytes:
    ops = [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": f"user{p}"},
            "attributes": {"email": f"user{p}@example.com", "first_name": f"Ann{p}"},
        }
        for p in range(people)
    ]
    return json.dumps({"batch": ops}).encode()


def prerendered(count: int, people: int) -> list[tuple[str, list[str], bytes]]:
    """The baseline's messages: the template's content rendered in Python, MIME built once."""
    messages = []
    for n in range(count):
        person, data = order(n, people)
        name = f"Ann{n % people}"
        rows = "".join(
            f"<tr><td>{i['name']}</td><td>{i['quantity']}</td><td>${i['price']:,.2f}</td></tr>\n"
            for i in data["items"]
        )
        day = time.strftime("%B %d, %Y", time.gmtime(data["placed_at"]))
        head, _, rest = BODY.partition("{% for item in trigger.items %}")
        tail = rest.partition("{% endfor %}")[2]
        html = (
            (head + rows + tail)
            .replace("{{ customer.first_name }}", name)
            .replace('{{ trigger.placed_at | date: "%B %-d, %Y" }}', day)
            .replace("{{ trigger.order_id }}", data["order_id"])
            .replace("{{ trigger.total | currency }}", f"${data['total']:,.2f}")
            .replace("{% unsubscribe_url %}", f"https://shop.example/unsubscribe/{n}")
        )
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = f"{person}@example.com"
        msg["Subject"] = f"Your order {data['order_id']} is on its way, {name}"
        msg["Date"] = formatdate()
        msg["Message-ID"] = make_msgid(domain="shop.example")
        msg["X-CIO-Delivery-ID"] = f"baseline{n}"
        msg.set_content(re.sub(r"<[^>]+>", "", re.sub(r"<style.*?</style>", "", html, flags=re.S)))
        msg.add_alternative(html, subtype="html")
        messages.append(
            ("orders@shop.example", [f"{person}@example.com"], msg.as_bytes(policy=policy.SMTP))
        )
    return messages


# -- drivers ----------------------------------------------------------------------------------


async def _baseline(port: int, messages: list[tuple[str, list[str], bytes]], clients: int) -> float:
    connections = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(clients)]
    await asyncio.gather(*(c.connect() for c in connections))
    queue = iter(messages)

    async def client(smtp: aiosmtplib.SMTP) -> None:
        for sender, recipients, raw in queue:
            await smtp.sendmail(sender, recipients, raw)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    await asyncio.gather(*(c.quit() for c in connections))
    return started


def baseline(
    smtp: Sink, messages: list[tuple[str, list[str], bytes]], clients: int
) -> tuple[float, float]:
    """Emails/s for the pre-rendered messages, first send to last receipt, and the client's
    CPU ms per email."""
    smtp.reset()
    cpu = time.process_time()
    started = asyncio.run(_baseline(smtp.port, messages, clients))
    cpu = time.process_time() - cpu
    got = smtp.wait(len(messages), timeout=60)
    if len(got.at) < len(messages):
        raise SystemExit(f"baseline: {len(got.at)} of {len(messages)} messages arrived")
    return len(messages) / (max(got.at.values()) - started), cpu / len(messages) * 1000


async def _drive(
    base: str, headers: dict[str, str], bodies: list[bytes], clients: int, rate: float | None
) -> tuple[list[tuple[float, str]], float]:
    """POST every body to /v1/send/email, as fast as ``clients`` concurrent clients go or (open
    loop) at ``rate`` a second: (request start, delivery id) each, and when the last answer
    came. Every answer must be a 200."""
    sent: list[tuple[float, str]] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            response = await http.post("/v1/send/email", content=body)
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text[:200]}")
            else:
                sent.append((started, response.json()["delivery_id"]))

        if rate is None:
            queue = iter(bodies)

            async def client() -> None:
                for body in queue:
                    await one(body)

            await asyncio.gather(*(client() for _ in range(clients)))
        else:
            tasks = []
            begin = time.perf_counter()
            for n, body in enumerate(bodies):
                delay = begin + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(body)))
            await asyncio.gather(*tasks)
    if failures:
        raise SystemExit(f"{len(failures)} sends failed, first: {failures[0]}")
    return sent, time.perf_counter()


def drive(
    smtp: Sink,
    base: str,
    headers: dict[str, str],
    bodies: list[bytes],
    clients: int,
    rate: float | None = None,
) -> tuple[list[tuple[float, str]], float, Receipts]:
    smtp.reset()
    sent, answered = asyncio.run(_drive(base, headers, bodies, clients, rate))
    got = smtp.wait(len(sent), timeout=max(60.0, len(sent) / 20))
    missing = [d for _, d in sent if d not in got.at]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(sent)} deliveries never reached the sink")
    return sent, answered, got


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000, help="sends in the throughput run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--rate", type=float, default=100, help="sends/s in the latency run")
    parser.add_argument("--duration", type=float, default=10, help="seconds of the latency run")
    parser.add_argument("--people", type=int, default=1000, help="people the sends go to")
    parser.add_argument("--postgres", help="serve from a fresh database on this PostgreSQL URL")
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    n, clients, people = args.messages, args.clients, min(args.people, args.messages)
    warmup = send_bodies(10**6, 100, people)
    bodies = send_bodies(0, n, people)
    steady = send_bodies(2 * 10**6, int(args.rate * args.duration), people)
    messages = prerendered(n, people)
    on = "PostgreSQL" if args.postgres else "SQLite"
    with sink() as smtp, tempfile.TemporaryDirectory(prefix="patron-email-") as tmp:
        baseline(smtp, messages[:100], clients)  # warm-up
        floors = [baseline(smtp, messages, clients)]
        floor_bytes = sum(len(m[2]) for m in messages) / n
        os.environ["PATRON_SMTP_URL"] = smtp.url
        os.environ["PATRON_DEV"] = "1"  # /__patron/apply
        with serve(Path(tmp), args.postgres) as (base, creds, proc):
            app = {"Authorization": f"Bearer {creds['app_api_key']}"}
            applied = httpx.post(f"{base}/__patron/apply", json=DOC, headers=app)
            if applied.status_code != 200:
                raise SystemExit(f"apply failed: {applied.status_code} {applied.text}")
            track = basic(creds["site_id"], creds["track_api_key"])
            post_all(base, "/api/v2/batch", track, [identify_batch(people)], 1)
            app["Content-Type"] = "application/json"
            drive(smtp, base, app, warmup, clients)
            cpu = cpu_seconds(proc.pid)
            sent, answered, got = drive(smtp, base, app, bodies, clients)
            patron_cpu = (cpu_seconds(proc.pid) - cpu) / n * 1000
            first = min(s for s, _ in sent)
            patron_rate = n / (max(got.at.values()) - first)
            api_rate = n / (answered - first)
            patron_bytes = got.bytes / max(got.messages, 1)
            duplicates = got.messages - len(got.at)
            # The baseline again, so that a change in the machine's load shows and averages out.
            floors.append(baseline(smtp, messages, clients))
            sent, _, got = drive(smtp, base, app, steady, clients, rate=args.rate)
            latencies = [(got.at[d] - s) * 1000 for s, d in sent]
            steady_rate = len(sent) / (max(got.at.values()) - min(s for s, _ in sent))
            rss = rss_peak_mb(proc.pid)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    floor_rate = statistics.mean(rate for rate, _ in floors)
    floor_cpu = statistics.mean(cpu for _, cpu in floors)
    ratio = patron_rate / floor_rate
    print(f"\n{n} messages, {clients} clients, {people} people, Patron on {on}")
    print(f"{'run':40} {'emails/s':>9} {'CPU ms/email':>13} {'bytes/email':>12}")
    print(
        f"{'baseline: pre-rendered, aiosmtplib':40} {floor_rate:9.0f} {floor_cpu:13.2f} "
        f"{floor_bytes:12.0f}"
    )
    print(
        f"{'Patron: POST /v1/send/email -> SMTP':40} {patron_rate:9.0f} {patron_cpu:13.2f} "
        f"{patron_bytes:12.0f}"
    )
    print(f"{'  (API answers alone, req/s)':40} {api_rate:9.0f}")
    print(f"baseline before and after Patron: {floors[0][0]:.0f} and {floors[1][0]:.0f} emails/s")
    print(f"Patron / baseline: {ratio:.2f} (target >= 0.5); duplicates at the sink: {duplicates}")
    print(
        f"At {args.rate:.0f} sends/s for {args.duration:.0f} s ({len(latencies)} sends), request "
        f"-> SMTP receipt: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms "
        f"(target p99 < 100 ms)"
    )
    if steady_rate < 0.95 * args.rate:
        print(f"  Patron fell behind: it delivered {steady_rate:.0f} emails/s of {args.rate:.0f}")
    print(f"Patron peak RSS: {rss:.0f} MB")
    bench = "transactional email"
    emit(
        args.json,
        [
            row(bench, f"baseline: pre-rendered, aiosmtplib, {clients} connections (mean of 2)",
                floor_rate, "emails/s"),
            row(bench, f"Patron send → SMTP receipt ({on}, {clients} clients)", patron_rate,
                "emails/s", floor_rate, "ratio >= 0.5"),
            row(bench, "Patron /v1/send/email answers alone", api_rate, "req/s"),
            row(bench, "CPU per email: baseline client (sink not counted)", floor_cpu, "ms"),
            row(bench, "CPU per email: Patron process", patron_cpu, "ms", floor_cpu),
            row(bench, f"p50 request → SMTP receipt at {args.rate:.0f}/s", p50, "ms"),
            row(bench, f"p99 request → SMTP receipt at {args.rate:.0f}/s", p99, "ms",
                target="< 100 ms"),
            row(bench, f"delivered during the {args.rate:.0f}/s run", steady_rate, "emails/s"),
            row(bench, "Patron peak RSS", rss, "MB"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
