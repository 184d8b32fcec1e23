"""Run by the Pipelines compat virtualenv's Python: PyPI `customerio-cdp-analytics` 1.1.0 and
`segment-analytics-python` 2.4.0, unmodified, pointed at a live Patron (``host=``).
Prints one JSON line of the results the test checks against."""

import datetime
import json
import os

from customerio.analytics import Client as CioClient
from segment.analytics import Client as SegmentClient

base = os.environ["PATRON_URL"]
key = os.environ["PATRON_WRITE_KEY"]
errors = []


def on_error(exc, batch):
    errors.append(repr(exc))


out = {}
cio = CioClient(key, host=base, sync_mode=True, on_error=on_error)
created = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
cio.identify("cdp-py-1", {"email": "cdp1@example.com", "plan": "pro", "createdAt": created})
cio.track("cdp-py-1", "Order Completed", {"total": 42}, message_id="cdp-msg-1")
cio.track("cdp-py-1", "Order Completed", {"total": 42}, message_id="cdp-msg-1")
cio.page("cdp-py-1", "Docs", "Intro", {"url": "https://example.com/intro"})
cio.screen("cdp-py-1", name="Settings")
cio.group("cdp-py-1", "cdp-acme", {"name": "Acme", "relationshipAttributes": {"role": "owner"}})
cio.track(anonymous_id="cdp-anon", event="Browsed")
cio.page(anonymous_id="cdp-anon", properties={"url": "https://example.com/pricing"})
cio.identify("cdp-py-2", {"x": 1}, anonymous_id="cdp-anon")
cio.identify("cdp-py-old", {"legacy": True})
cio.alias("cdp-py-old", "cdp-py-2")

# Async, gzip: 250 events in batches of up to 100, flushed by the background thread.
bulk = CioClient(key, host=base, gzip=True, on_error=on_error, max_retries=0)
for i in range(250):
    bulk.track("cdp-py-bulk", "Bulk", {"i": i})
bulk.flush()
bulk.shutdown()

# Customer.io's own client tests expect an unknown write key to succeed (permissive mode).
stranger = CioClient("testsecret", host=base, sync_mode=True, on_error=on_error)
stranger.identify("cdp-stranger", {"a": 1})

seg = SegmentClient(key, host=base, sync_mode=True, on_error=on_error)
seg.identify("seg-py-1", {"email": "seg1@example.com", "name": "Seg"})
seg.track("seg-py-1", "Segment Event", {"ok": True})
seg_bulk = SegmentClient(key, host=base, gzip=True, on_error=on_error, max_retries=0)
for i in range(120):
    seg_bulk.track("seg-py-bulk", "Bulk", {"i": i})
seg_bulk.flush()
seg_bulk.shutdown()

out["errors"] = errors
print(json.dumps(out))
