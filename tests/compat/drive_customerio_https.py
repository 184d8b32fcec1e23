"""Run by the compat virtualenv's Python: PyPI `customerio` 3.2.0 exactly as its README shows
it, with only ``host``/``port`` pointing at a live ``patron serve --https``. The client forces
https and verifies the certificate through ``REQUESTS_CA_BUNDLE`` (Patron's local CA).
Prints one JSON line of the results the test checks against."""

import json
import os

from customerio import CustomerIO

cio = CustomerIO(
    os.environ["PATRON_SITE_ID"],
    os.environ["PATRON_TRACK_KEY"],
    host="127.0.0.1",
    port=int(os.environ["PATRON_PORT"]),
    retries=0,
)
cio.identify("tls-1", email="tls1@example.com", plan="secure")
cio.track("tls-1", "paid", data={"amount": 3})
cio.add_device("tls-1", "tok-tls", "android")
cio.batch(
    [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": "tls-2"},
            "attributes": {"via": "batch"},
        },
        {"type": "person", "action": "event", "identifiers": {"id": "tls-2"}, "name": "hello"},
    ]
)
print(json.dumps({"base_url": cio.base_url}))
