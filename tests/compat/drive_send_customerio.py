"""Run by the compat virtualenv's Python: PyPI `customerio` 3.2.0's APIClient.send_email against
a live Patron (the template from the test's apply document). Prints one JSON line."""

import json
import os

from customerio import APIClient, CustomerIOException, SendEmailRequest

api = APIClient(os.environ["PATRON_APP_KEY"], url=os.environ["PATRON_URL"], retries=0)
out = {}
request = SendEmailRequest(
    transactional_message_id="welcome",
    to="Py Person <py@example.com>",
    identifiers={"id": "py-send"},
    message_data={"plan": "pro", "items": [{"name": "Shoe"}, {"name": "Sock"}]},
    headers={"X-Source": "python"},
    bcc="audit@example.com",
)
request.attach("hello.txt", "hello from python")
out["sent"] = api.send_email(request)
try:
    api.send_email(SendEmailRequest(transactional_message_id=424242, to="x@example.com"))
    out["unknown"] = "accepted"
except CustomerIOException as exc:
    out["unknown"] = str(exc)
print(json.dumps(out))
