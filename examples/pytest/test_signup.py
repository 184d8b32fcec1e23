"""Testing application code against a real, local Customer.io (Patron's pytest plugin)."""

from __future__ import annotations

from signup import import_accounts, send_welcome, sign_up

# The workspace's messages, as `patron apply` reads them (the same YAML can set up a real
# Customer.io workspace's counterpart by hand).
WORKSPACE = """
transactional:
  - id: 1
    name: welcome
    from: Acme <hello@acme.test>
    subject: "Welcome aboard, {{ trigger.first_name }}"
    body: >-
      <p>Hi {{ trigger.first_name }}, start here:
      <a href="https://acme.test/start">Get started</a></p>
"""


def test_sign_up_makes_one_person_with_one_event(patron):
    cio = patron.track_client()
    sign_up(cio, "u1", "ann@example.com", "pro")

    [person] = patron.people()
    assert person["identifiers"]["email"] == "ann@example.com"
    assert person["attributes"]["plan"] == "pro"
    assert [e["name"] for e in patron.events("u1")] == ["signed_up"]


def test_every_test_starts_empty(patron):
    assert patron.people() == []
    assert patron.requests() == []


def test_signing_up_twice_never_duplicates_the_person(patron):
    cio = patron.track_client()
    sign_up(cio, "u1", "ann@example.com", "pro")
    sign_up(cio, "u1", "ANN@example.com", "team")
    [person] = patron.people()
    assert person["attributes"]["plan"] == "team"
    assert len(patron.events("u1")) == 2


def test_what_was_sent_on_the_wire(patron):
    sign_up(patron.track_client(), "u1", "ann@example.com", "pro")
    (identify,) = patron.requests(path="/api/v1/customers/u1", status=200)
    assert identify["method"] == "PUT"
    assert identify["body"]["email"] == "ann@example.com"


def test_server_time_follows_the_virtual_clock(patron):
    patron.clock.set(1_700_000_000, freeze=True)
    sign_up(patron.track_client(), "u1", "ann@example.com", "pro")
    patron.clock.advance("14d")
    [event] = patron.events("u1")
    assert event["timestamp"] == 1_700_000_000  # server time when the event arrived
    assert patron.clock.now() == 1_700_000_000 + 14 * 86400


def test_the_client_retries_a_503(patron):
    patron.fault(path="/api/v1/customers/*", method="PUT", status=503, times=1)
    sign_up(patron.track_client(retries=2), "u1", "ann@example.com", "pro")
    statuses = [r["status"] for r in patron.requests(path="/api/v1/customers/u1")]
    assert statuses == [200, 503]  # newest first: the retry got through
    assert patron.person("u1") is not None


def test_bulk_import_uses_track_v2_batch(patron):
    import_accounts(
        patron.track_client(),
        [{"id": "a1", "email": "a1@example.com"}, {"id": "a2", "email": "a2@example.com"}],
    )
    assert sorted(p["id"] for p in patron.people()) == ["a1", "a2"]
    assert patron.person("a2@example.com", id_type="email")["attributes"]["source"] == "import"


def test_same_seed_same_ids(patron):
    patron.seed(42)
    patron.track_client().identify("u1")
    first = patron.person("u1")["identifiers"]["cio_id"]
    patron.reset()
    patron.seed(42)
    patron.track_client().identify("u1")
    assert patron.person("u1")["identifiers"]["cio_id"] == first


def test_the_welcome_email(patron):
    patron.apply(WORKSPACE)
    delivery_id = send_welcome(patron.api_client(), "u1", "ann@example.com", "Ann")

    email = patron.last_email(to="ann@example.com")  # waits for the sender
    assert email["delivery_id"] == delivery_id
    assert email["subject"] == "Welcome aboard, Ann"
    assert email["from"] == "Acme <hello@acme.test>"
    [link] = email["links"]
    assert link["tracked"] and link["url"] == "https://acme.test/start"
    assert patron.person("u1") is not None  # the send created the person it names
