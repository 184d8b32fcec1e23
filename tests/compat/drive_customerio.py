"""Run by the compat virtualenv's Python: every Track v1 method of PyPI `customerio` 3.2.0,
pointed at a live Patron. Prints one JSON line of the results the test checks against."""

import datetime
import json
import os
import sys

from customerio import CustomerIO, CustomerIOException
from customerio.constants import CIOID, EMAIL, ID

base = os.environ["PATRON_URL"]
cio = CustomerIO(os.environ["PATRON_SITE_ID"], os.environ["PATRON_TRACK_KEY"], retries=0)
# The constructor forces https; every v1 method then uses base_url.
cio.base_url = base + "/api/v1"

out = {}
cio.identify(
    "py 1/x",
    email="py1@example.com",
    plan="pro",
    created_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
    nothing=None,
)
cio.track(
    "py 1/x", "purchase", data={"price": 1.5}, id="01HB4HBDKTFWYZCK01DMRSWRFD", timestamp=1700000000
)
cio.track(
    "py 1/x", "purchase", data={"price": 1.5}, id="01HB4HBDKTFWYZCK01DMRSWRFD", timestamp=1700000000
)
cio.track_anonymous("anon-py", "browsed", data={"page": "/"})
cio.track_anonymous("", "invite", data={"recipient": "friend@example.com"})
cio.identify("py2", anonymous_id="anon-py")
cio.pageview("py 1/x", "/pricing", referrer="google")
cio.backfill("py 1/x", "old-signup", 1600000000, source="import")
cio.add_device("py 1/x", "tok-py", "ios", last_used=1700000000, app_version="1.0")
cio.add_device("py 1/x", "tok-py-2", "android")
cio.delete_device("py 1/x", "tok-py-2")
cio.identify("py-del", plan="x")
cio.delete("py-del")
cio.identify("py-sup", email="sup@example.com")
cio.suppress("py-sup")
cio.identify("py-sup", plan="ignored")
cio.unsuppress("py-sup")
cio.identify("py-merge-a", a="1")
cio.identify("py-merge-b", b="2", email="merge-b@example.com")
cio.merge_customers(ID, "py-merge-a", EMAIL, "merge-b@example.com")
try:
    cio.merge_customers("phone", "x", ID, "y")
except CustomerIOException as exc:
    out["client_side_rejection"] = str(exc)[:80]
try:
    cio.identify("bad", big="x" * 1001)
except CustomerIOException as exc:
    out["limit_error"] = str(exc)
bad = CustomerIO(os.environ["PATRON_SITE_ID"], "wrong-key", retries=0)
bad.base_url = base + "/api/v1"
try:
    bad.identify("nobody", a=1)
except CustomerIOException as exc:
    out["auth_error"] = str(exc)
# batch() always builds https://{host}:{port}/api/v2/batch; point it at plain http here.
v2 = CustomerIO(
    os.environ["PATRON_SITE_ID"],
    os.environ["PATRON_TRACK_KEY"],
    host="127.0.0.1",
    port=int(base.rsplit(":", 1)[1]),
    retries=0,
)
send = v2.send_request
v2.send_request = lambda method, url, data: send(
    method, url.replace("https://", "http://", 1), data
)
response = v2.batch(
    [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": "py-v2"},
            "attributes": {"plan": "v2"},
        },
        {"type": "person", "action": "event", "identifiers": {"id": "py-v2"}, "name": "batched"},
        {"type": "person", "action": "event", "identifiers": {"id": "py-v2"}},
    ]
)
out["batch_status"] = response.status_code
out["batch_errors"] = response.json()["errors"]
out["cio_id_const"] = CIOID
print(json.dumps(out))
sys.exit(0)
