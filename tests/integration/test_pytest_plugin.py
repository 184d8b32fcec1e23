"""The pytest plugin's fixture and helpers, over plain HTTP, run by pytester in a subprocess
(the plugin is registered through its `pytest11` entry point)."""

from __future__ import annotations

import pytest

USER_TESTS = """
import httpx2 as httpx
import pytest
from patron.testing import PatronError


def identify(patron, person, **attrs):
    answer = httpx.put(
        f"{patron.track_url}/api/v1/customers/{person}",
        json=attrs,
        auth=(patron.site_id, patron.track_api_key),
    )
    assert answer.status_code == 200, answer.text


def test_urls_and_keys(patron):
    assert patron.track_url.startswith("http://127.0.0.1:")
    assert patron.app_url == patron.pipelines_url == patron.track_url
    assert patron.ca_bundle is None
    assert len(patron.site_id) == 20 and patron.app_api_key.startswith("app_")
    answer = httpx.post(
        f"{patron.pipelines_url}/v1/track",
        json={"userId": "p1", "event": "Clicked"},
        auth=(patron.pipelines_write_key, ""),
    )
    assert answer.status_code == 200


def test_writes_then_reads(patron):
    identify(patron, "u1", plan="pro")
    identify(patron, "u2")
    assert [p["id"] for p in patron.people()] == ["u1", "u2"]
    assert patron.person("u1")["attributes"]["plan"] == "pro"
    assert patron.person("nobody") is None
    patron.clock.set(1_800_000_000, freeze=True)
    httpx.post(
        f"{patron.track_url}/api/v1/customers/u1/events",
        json={"name": "paid"},
        auth=(patron.site_id, patron.track_api_key),
    )
    assert [(e["name"], e["timestamp"]) for e in patron.events("u1")] == [("paid", 1_800_000_000)]
    assert patron.clock.advance("1h") == 1_800_003_600


def test_state_does_not_leak_between_tests(patron):
    assert patron.people() == []
    assert abs(patron.clock.now() - __import__("time").time()) < 5
    assert patron.requests() == []


def test_faults_and_errors(patron):
    rule = patron.fault(path="/api/v1/customers/*", status=503, times=1)
    assert rule["remaining"] == 1
    answer = httpx.put(
        f"{patron.track_url}/api/v1/customers/u1",
        json={},
        auth=(patron.site_id, patron.track_api_key),
    )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert [r["status"] for r in patron.requests(status="5xx")] == [503]
    with pytest.raises(PatronError) as caught:
        patron.restore("never-saved")
    assert caught.value.status == 404


def test_snapshots(patron):
    identify(patron, "keep")
    patron.snapshot("base")
    identify(patron, "drop")
    patron.restore("base")
    assert [p["id"] for p in patron.people()] == ["keep"]


def test_many_people_are_paged(patron):
    ops = [
        {"type": "person", "action": "identify", "identifiers": {"id": f"m{n}"}}
        for n in range(1200)
    ]
    for start in range(0, 1200, 400):
        answer = httpx.post(
            f"{patron.track_url}/api/v2/batch",
            json={"batch": ops[start:start + 400]},
            auth=(patron.site_id, patron.track_api_key),
        )
        assert answer.status_code == 200, answer.text
    assert len(patron.people()) == 1200
"""


EMAIL_TESTS = """
import httpx2 as httpx
import pytest

WORKSPACE = '''
subscription_topics:
  - {id: 1, name: News}
transactional:
  - id: 1
    name: welcome
    from: Acme <hello@acme.test>
    subject: "Welcome, {{ customer.first_name }}"
    body: "<p>Hi {{ customer.first_name }}</p><a href='https://acme.test/start'>Start</a>"
'''


def send(patron, **body):
    answer = httpx.post(
        f"{patron.app_url}/v1/send/email",
        json=body,
        headers={"Authorization": f"Bearer {patron.app_api_key}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["delivery_id"]


def test_apply_send_and_read_the_email(patron):
    changes = patron.apply(WORKSPACE)
    assert [(c["section"], c["action"]) for c in changes] == [
        ("subscription_topics", "created"),
        ("transactional", "created"),
    ]
    assert patron.apply(WORKSPACE, dry_run=True)[1]["action"] == "unchanged"
    httpx.put(
        f"{patron.track_url}/api/v1/customers/u1",
        json={"email": "ann@example.com", "first_name": "Ann"},
        auth=(patron.site_id, patron.track_api_key),
    )
    delivery_id = send(
        patron, transactional_message_id="welcome", to="ann@example.com", identifiers={"id": "u1"}
    )
    email = patron.last_email(to="ann@example.com")
    assert email["delivery_id"] == delivery_id
    assert email["subject"] == "Welcome, Ann"
    assert email["from"] == "Acme <hello@acme.test>"
    assert "Hi Ann" in email["text"]
    [link] = email["links"]
    assert link["tracked"] and link["url"] == "https://acme.test/start"
    assert email["list_unsubscribe"].endswith(delivery_id + ">")


def test_outbox_filters_and_clearing(patron):
    send(patron, to="a@example.com", subject="First", body="<p>apple</p>")
    send(patron, to="b@example.com", subject="Second", body="<p>banana</p>")
    assert patron.settle()
    assert [m["subject"] for m in patron.outbox()] == ["Second", "First"]
    assert [m["to"] for m in patron.outbox(text="APPLE")] == [["a@example.com"]]
    assert patron.outbox(subject="third") == []
    assert patron.clear_outbox() == 2
    assert patron.outbox() == []
    with pytest.raises(AssertionError, match="no email to a@example.com arrived"):
        patron.last_email(to="a@example.com", wait=0.2)


def test_every_test_starts_with_an_empty_outbox_and_no_templates(patron):
    assert patron.outbox() == []
    # An earlier test's "welcome" (id 1) is gone, so another id may take the name.
    changes = patron.apply({"transactional": [{"id": 5, "name": "welcome", "body": "<p>x</p>"}]})
    assert changes == [
        {"section": "transactional", "id": 5, "name": "welcome", "action": "created"}
    ]
"""


def test_plugin_fixture_and_helpers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_plugin_email_helpers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_email=EMAIL_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_test_that_does_not_use_the_fixture_starts_no_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--setup-show")
    result.assert_outcomes(passed=1)
    assert "patron_server" not in result.stdout.str()


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--patron-database*", "*--patron-https*"])
