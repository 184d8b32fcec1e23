"""Campaigns run on the virtual clock (no sleeps), on SQLite and PostgreSQL: event and segment
triggers, emails, delays, waits, branches, attribute updates, goals, exits and re-entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from patron.store.database import Database
from support import Api, in_process, new_workspace

DAY = 86400

ONBOARDING: dict[str, Any] = {
    "segments": [
        {
            "name": "Pro",
            "conditions": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        }
    ],
    "campaigns": [
        {
            "id": 1,
            "name": "Onboarding",
            "trigger": {"event": "signed_up"},
            "workflow": [
                {
                    "id": 1,
                    "type": "email",
                    "subject": "Welcome {{ customer.first_name }}",
                    "body": "<p>From {{ event.source }}</p>",
                },
                {"id": 2, "type": "delay", "duration": "2d"},
                {"id": 3, "type": "wait_until", "event": "activated", "max": "3d"},
                {
                    "id": 4,
                    "type": "branch",
                    "if": {"segment": {"name": "Pro"}},
                    "yes": [
                        {"id": 5, "type": "email", "subject": "Pro tips", "body": "<p>pro</p>"}
                    ],
                    "no": [{"id": 6, "type": "email", "subject": "Upgrade", "body": "<p>up</p>"}],
                },
                {
                    "id": 7,
                    "type": "attribute_update",
                    "set": {"onboarded": "yes", "came_from": "{{ event.source }}"},
                },
            ],
        }
    ],
}


@pytest.fixture
def app(database: Database) -> Iterator[Api]:
    creds = new_workspace(database)
    with in_process(database, dev=True) as http:
        yield Api(http, creds)


def apply(api: Api, doc: dict[str, Any]) -> dict[str, Any]:
    response = api.app("POST", "/__patron/apply", doc)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def settle(api: Api) -> None:
    response = api.app("POST", "/__patron/settle", {"timeout": 30})
    assert response.json() == {"settled": True}


def advance(api: Api, seconds: int) -> None:
    assert api.app("POST", "/__patron/clock", {"advance": seconds}).status_code == 200
    settle(api)


def subjects(api: Api, person: str) -> list[str]:
    found = api.app("GET", f"/v1/customers/{person}/messages", params={"limit": 100}).json()
    return [m["subject"] for m in reversed(found["messages"])]


def event(api: Api, person: str, name: str, **data: Any) -> None:
    response = api.track("POST", f"/api/v1/customers/{person}/events", {"name": name, "data": data})
    assert response.status_code == 200, response.text


def steps(api: Api, person: str) -> list[tuple[int | None, str]]:
    found = api.activities(person, type="journey", limit=100)
    return [(a["data"]["action_id"], a["data"]["outcome"]) for a in reversed(found)]


def test_onboarding_runs_on_the_clock(app: Api) -> None:
    app.app("POST", "/__patron/clock", {"freeze": True})
    apply(app, ONBOARDING)
    app.identify("ann", email="ann@example.com", first_name="Ann", plan="free")
    event(app, "ann", "signed_up", source="ads")
    settle(app)
    assert subjects(app, "ann") == ["Welcome Ann"]
    welcome = app.app("GET", "/v1/customers/ann/messages").json()["messages"][0]
    assert (welcome["campaign_id"], welcome["action_id"]) == (1, 1)
    advance(app, DAY)
    assert subjects(app, "ann") == ["Welcome Ann"]  # still in the 2-day delay
    advance(app, DAY)
    event(app, "ann", "activated")  # ends the wait before its 3 days
    settle(app)
    assert subjects(app, "ann") == ["Welcome Ann", "Upgrade"]
    person = app.person("ann")
    assert person is not None
    assert person["attributes"]["onboarded"] == "yes"
    assert person["attributes"]["came_from"] == "ads"
    assert steps(app, "ann") == [
        (None, "entered"),
        (1, "done"),
        (2, "waiting"),
        (2, "done"),
        (3, "waiting"),
        (3, "met"),
        (4, "no"),
        (6, "done"),
        (7, "done"),
        (None, "completed"),
    ]


def test_wait_times_out_and_the_branch_reads_segments(app: Api) -> None:
    app.app("POST", "/__patron/clock", {"freeze": True})
    apply(app, ONBOARDING)
    app.identify("bo", email="bo@example.com", first_name="Bo", plan="pro")
    event(app, "bo", "signed_up", source="blog")
    settle(app)
    advance(app, 2 * DAY)
    advance(app, 3 * DAY - 1)
    assert subjects(app, "bo") == ["Welcome Bo"]
    advance(app, 1)
    assert subjects(app, "bo") == ["Welcome Bo", "Pro tips"]
    assert (3, "timed_out") in steps(app, "bo")


def test_a_jump_of_the_clock_measures_waits_from_when_the_delay_ended(app: Api) -> None:
    app.app("POST", "/__patron/clock", {"freeze": True})
    apply(app, ONBOARDING)
    app.identify("jo", email="jo@example.com", first_name="Jo", plan="pro")
    event(app, "jo", "signed_up", source="x")
    settle(app)
    advance(app, 5 * DAY)  # the 2-day delay and the 3-day wait both passed meanwhile
    assert subjects(app, "jo") == ["Welcome Jo", "Pro tips"]


def test_campaigns_on_the_app_api(app: Api) -> None:
    apply(app, ONBOARDING)
    listed = app.app("GET", "/v1/campaigns").json()["campaigns"]
    assert [(c["id"], c["name"], c["type"], c["state"], c["active"]) for c in listed] == [
        (1, "Onboarding", "event", "running", True)
    ]
    assert listed[0]["event_name"] == "signed_up"
    assert [a["id"] for a in listed[0]["actions"]] == [1, 2, 3, 4, 5, 6, 7]
    one = app.app("GET", "/v1/campaigns/1").json()["campaign"]
    assert one == listed[0]
    actions = app.app("GET", "/v1/campaigns/1/actions").json()
    assert [a["id"] for a in actions["actions"]] == [1, 2, 3, 4, 5, 6, 7] and actions["next"] == ""
    email = app.app("GET", "/v1/campaigns/1/actions/1").json()["action"]
    assert email["subject"] == "Welcome {{ customer.first_name }}"
    assert email["recipient"] == "{{customer.email}}" and email["sending_state"] == "automatic"
    assert app.app("GET", "/v1/campaigns/9").status_code == 404
    assert app.app("GET", "/v1/campaigns/1/actions/99").status_code == 404
    app.identify("hu", email="hu@example.com", first_name="Hu", plan="free")
    event(app, "hu", "signed_up", source="x")
    settle(app)
    messages = app.app("GET", "/v1/campaigns/1/messages").json()["messages"]
    assert [(m["campaign_id"], m["action_id"]) for m in messages] == [(1, 1)]
    metrics = app.app("GET", "/v1/campaigns/1/journey_metrics").json()["journey_metric"]
    assert metrics["runs"] == {"entered": 1}
    assert metrics["actions"]["1"] == {"done": 1} and metrics["actions"]["2"] == {"waiting": 1}


def test_once_and_every_time(app: Api) -> None:
    doc = {
        "campaigns": [
            {
                "id": 1,
                "name": "Once",
                "trigger": {"event": "ping"},
                "workflow": [{"id": 1, "type": "email", "subject": "once", "body": "x"}],
            },
            {
                "id": 2,
                "name": "Each",
                "trigger": {
                    "event": "ping",
                    "where": [{"field": "n", "operator": "gt", "value": 1}],
                },
                "frequency": "every_time",
                "workflow": [
                    {"id": 1, "type": "email", "subject": "each {{ event.n }}", "body": "x"}
                ],
            },
        ]
    }
    apply(app, doc)
    app.identify("cy", email="cy@example.com")
    for n in (1, 2, 3):
        event(app, "cy", "ping", n=n)
    settle(app)
    assert sorted(subjects(app, "cy")) == ["each 2", "each 3", "once"]


def test_segment_trigger_exits_when_they_stop_matching(app: Api) -> None:
    app.app("POST", "/__patron/clock", {"freeze": True})
    doc = {
        "segments": ONBOARDING["segments"],
        "campaigns": [
            {
                "id": 3,
                "name": "Pro welcome",
                "trigger": {"segment": "Pro"},
                "workflow": [
                    {"id": 1, "type": "delay", "duration": "1d"},
                    {"id": 2, "type": "email", "subject": "Glad you're pro", "body": "x"},
                ],
            },
        ],
    }
    apply(app, doc)
    app.identify("di", email="di@example.com", plan="pro")
    app.identify("ed", email="ed@example.com", plan="pro")
    settle(app)
    app.identify("ed", plan="free")  # leaves the segment: ends the run
    settle(app)
    advance(app, DAY)
    assert subjects(app, "di") == ["Glad you're pro"]
    assert subjects(app, "ed") == []


def test_goal_converts_and_ends_the_run(app: Api) -> None:
    app.app("POST", "/__patron/clock", {"freeze": True})
    doc = {
        "campaigns": [
            {
                "id": 4,
                "name": "Nudge",
                "trigger": {"event": "cart"},
                "exit": "goal",
                "goal": {"event": "purchased", "within": "2d"},
                "workflow": [
                    {"id": 1, "type": "email", "subject": "Your cart", "body": "x"},
                    {"id": 2, "type": "delay", "duration": "1d"},
                    {"id": 3, "type": "email", "subject": "Still there?", "body": "x"},
                ],
            },
        ]
    }
    apply(app, doc)
    app.identify("fi", email="fi@example.com")
    event(app, "fi", "cart")
    settle(app)
    event(app, "fi", "purchased")
    settle(app)
    advance(app, DAY)
    assert subjects(app, "fi") == ["Your cart"]
    first = app.app("GET", "/v1/customers/fi/messages").json()["messages"][0]
    assert "converted" in first["metrics"]


def test_events_before_the_campaign_and_stopped_campaigns_start_nothing(app: Api) -> None:
    app.identify("gu", email="gu@example.com")
    event(app, "gu", "early")
    settle(app)
    doc = {
        "campaigns": [
            {
                "id": 5,
                "name": "Late",
                "trigger": {"event": "early"},
                "workflow": [{"id": 1, "type": "email", "subject": "s", "body": "b"}],
            }
        ]
    }
    apply(app, doc)
    settle(app)
    assert subjects(app, "gu") == []
    doc["campaigns"][0]["state"] = "stopped"
    apply(app, doc)
    event(app, "gu", "early")
    settle(app)
    assert subjects(app, "gu") == []


@pytest.mark.parametrize(
    ("campaign", "error"),
    [
        ({"workflow": [{"id": 1, "type": "teleport"}]}, "campaigns[0].workflow[0].type"),
        ({"workflow": [{"type": "exit"}]}, "campaigns[0].workflow[0].id"),
        (
            {"workflow": [{"id": 1, "type": "delay", "duration": "soon"}]},
            "campaigns[0].workflow[0].duration",
        ),
        ({"workflow": [{"id": 1, "type": "exit"}, {"id": 1, "type": "exit"}]}, "appears twice"),
        ({"trigger": {"segment": "Nope"}}, "segment(s) called 'Nope'"),
        (
            {
                "workflow": [
                    {"id": 1, "type": "branch", "if": {"attribute": {"field": "a"}}, "yes": []}
                ]
            },
            "campaigns[0].workflow[0].if",
        ),
    ],
)
def test_bad_campaigns_are_refused_with_the_path(
    app: Api, campaign: dict[str, Any], error: str
) -> None:
    base = {"id": 1, "name": "C", "trigger": {"event": "e"}, "workflow": []}
    response = app.app("POST", "/__patron/apply", {"campaigns": [{**base, **campaign}]})
    assert response.status_code == 400, response.text
    assert error in response.json()["meta"]["error"]
    assert apply(app, {"campaigns": []})["changes"] == []  # nothing was created
