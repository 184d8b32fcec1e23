"""Nothing a client sends produces a 5xx: random bodies, paths and headers on every route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import Api

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
# Bodies shaped like the real ones, with wrong values in the right places.
known_keys = st.sampled_from(
    [
        "id", "email", "name", "data", "type", "timestamp", "anonymous_id", "_update",
        "_timestamp", "created_at", "unsubscribed", "device", "primary", "secondary",
        "delivery_id", "metric", "event", "unsubscribe", "ids", "cio_subscription_preferences",
        "cio_subscription_preferences.topics.topic_1", "cio_relationships",
        "batch", "action", "identifiers", "attributes", "token", "primary", "secondary",
        "object_type_id", "filter",
    ]
)  # fmt: skip
bodies = st.one_of(
    st.deferred(lambda: v2_bodies),
    st.dictionaries(known_keys, json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
segments = st.one_of(
    st.sampled_from(["u1", "a%40b.co", "cio_x", "%ff", "%2F", "..", "cio_", "%00", "x" * 200]),
    st.text(alphabet="abc%/@ 2F", min_size=1, max_size=12),
)
ROUTES = [
    ("PUT", "/api/v1/customers/{s}"),
    ("DELETE", "/api/v1/customers/{s}"),
    ("PUT", "/api/v1/customers/{s}/devices"),
    ("DELETE", "/api/v1/customers/{s}/devices/{s}"),
    ("POST", "/api/v1/customers/{s}/suppress"),
    ("POST", "/api/v1/customers/{s}/unsuppress"),
    ("POST", "/api/v1/customers/{s}/events"),
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/merge_customers"),
    ("POST", "/api/v1/forms/{s}/submit"),
    ("POST", "/api/v1/metrics"),
    ("POST", "/api/v1/push/events"),
    ("POST", "/unsubscribe/{s}"),
    ("GET", "/api/v1/accounts/region"),
    ("GET", "/v1/customers/{s}/attributes"),
    ("GET", "/v1/customers/{s}/activities"),
    ("POST", "/v1/customers/attributes"),
    ("GET", "/v1/activities"),
    ("GET", "/v1/customers"),
    ("POST", "/api/v2/entity"),
    ("POST", "/api/v2/batch"),
    ("GET", "/v1/object_types"),
    ("POST", "/v1/objects"),
    ("GET", "/v1/objects/{s}/{s}/attributes"),
    ("GET", "/v1/objects/{s}/{s}/relationships"),
    ("GET", "/v1/customers/{s}/relationships"),
]
# Track v2 operations with plausible types and actions and arbitrary everything else.
v2_ops = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["person", "object", "delivery", "x"]),
        "action": st.sampled_from(
            ["identify", "event", "page", "screen", "add_device", "delete_device", "merge",
             "suppress", "unsuppress", "delete", "add_relationships", "identify_anonymous"]
        ),
    },
    optional={
        "identifiers": st.dictionaries(
            st.sampled_from(
                ["id", "email", "cio_id", "phone", "anonymous_id", "object_id", "object_type_id",
                 "cio_object_id"]
            ),
            json_values,
            max_size=2,
        ),
        "attributes": json_values,
        "name": json_values,
        "device": json_values,
        "timestamp": json_values,
        "primary": json_values,
        "secondary": json_values,
        "cio_relationships": json_values,
    },
)  # fmt: skip
v2_bodies = st.one_of(
    v2_ops.map(lambda op: json.dumps(op).encode()),
    st.lists(v2_ops, max_size=5).map(lambda ops: json.dumps({"batch": ops}).encode()),
)
queries = st.dictionaries(
    st.sampled_from(["id_type", "email", "start", "limit", "type", "name", "customer_id"]),
    st.text(max_size=10),
    max_size=3,
)


requests = st.tuples(
    st.sampled_from(ROUTES),
    segments,
    bodies,
    queries,
    st.sampled_from(["application/json", "text/plain", ""]),
)


def check_no_5xx(api: Api, request: tuple[Any, ...]) -> None:
    """Send one generated request through both credential kinds; no answer may be a 5xx."""
    route, segment, body, query, content_type = request
    method, template = route
    path = template.replace("{s}", segment)
    headers = {"content-type": content_type} if content_type else {}
    for call in (api.track, api.app):
        response = call(method, path, content=body, params=query, headers=headers)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400 and response.content:
            shape = (
                "errors" if path.startswith("/api/v2/") and response.status_code != 401 else "meta"
            )
            assert shape in response.json(), (path, response.text)
        if response.status_code == 207:
            assert all("batch_index" in e for e in response.json()["errors"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_no_5xx(api: Api, request: tuple[Any, ...]) -> None:
    check_no_5xx(api, request)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_no_5xx_long(api: Api, request: tuple[Any, ...]) -> None:
    check_no_5xx(api, request)
