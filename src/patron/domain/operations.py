"""The internal operation vocabulary (Track v2's), which every ingress translates into.

Operations are plain, already-validated data. The store applies them in order inside one
transaction; rules that need stored state (identity resolution, attribute ordering) run there,
through the pure functions in :mod:`patron.domain.identity` and :mod:`patron.domain.attributes`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from patron.domain.identifiers import Identifier


class ObjectRef(msgspec.Struct, frozen=True):
    """An object: ``type_id`` + ``object_id``, or ``cio_object_id`` (existing objects only)."""

    type_id: int | None = None
    object_id: str | None = None
    cio_object_id: str | None = None


class Related(msgspec.Struct, frozen=True):
    """One side of a relationship, with the relationship's attributes (``None`` removes)."""

    attributes: dict[str, Any] = {}
    person: Identifier | None = None
    anonymous_id: str | None = None
    object: ObjectRef | None = None


class Identify(msgspec.Struct, frozen=True, tag="identify"):
    """Create or update a person.

    ``attributes`` maps names to new values; ``None`` removes the attribute.
    ``assign`` holds identifiers named in the body (``id``/``email``) to give the person.
    """

    who: Identifier
    attributes: dict[str, Any]
    assign: dict[str, str] = {}
    timestamp: int | None = None
    update_only: bool = False
    anonymous_id: str | None = None
    add_relationships: tuple[Related, ...] = ()
    delete_relationships: tuple[Related, ...] = ()


class IdentifyAnonymous(msgspec.Struct, frozen=True, tag="identify_anonymous"):
    """Set traits on an anonymous profile; they move to the person the id is linked to."""

    anonymous_id: str
    attributes: dict[str, Any]
    timestamp: int | None = None


class PersonRelationships(msgspec.Struct, frozen=True, tag="person_relationships"):
    """Relate a person to objects (``add``) or remove those relationships."""

    who: Identifier
    objects: tuple[Related, ...]
    add: bool


class IdentifyObject(msgspec.Struct, frozen=True, tag="identify_object"):
    """Create or update an object and relate it to people or anonymous ids."""

    object: ObjectRef
    attributes: dict[str, Any]
    relationships: tuple[Related, ...] = ()


class DeleteObject(msgspec.Struct, frozen=True, tag="delete_object"):
    """Remove an object and its relationships."""

    object: ObjectRef


class ObjectRelationships(msgspec.Struct, frozen=True, tag="object_relationships"):
    """Relate an object to people (``add``) or remove those relationships."""

    object: ObjectRef
    people: tuple[Related, ...]
    add: bool


class DeletePerson(msgspec.Struct, frozen=True, tag="delete"):
    """Remove a person and everything that belongs to them."""

    who: Identifier


class TrackEvent(msgspec.Struct, frozen=True, tag="event"):
    """An event, page view or screen view, for a person or for an anonymous id.

    With neither ``who`` nor ``anonymous_id`` it is an unattached event (an invite event when
    its data carries ``recipient``).
    """

    name: str
    kind: str = "event"
    who: Identifier | None = None
    anonymous_id: str | None = None
    data: dict[str, Any] = {}
    timestamp: int | None = None
    event_id: str | None = None


class AddDevice(msgspec.Struct, frozen=True, tag="add_device"):
    """Register (or move) a device token to a person."""

    who: Identifier
    token: str
    platform: str
    last_used: int | None = None
    attributes: dict[str, Any] = {}


class DeleteDevice(msgspec.Struct, frozen=True, tag="delete_device"):
    """Remove a device token from a person."""

    who: Identifier
    token: str


class Merge(msgspec.Struct, frozen=True, tag="merge"):
    """Fold ``secondary`` into ``primary``; the secondary is deleted."""

    primary: Identifier
    secondary: Identifier
    # Pipelines ``alias``: a ``previousId`` that names no person may be an anonymous id.
    secondary_may_be_anonymous: bool = False


class Suppress(msgspec.Struct, frozen=True, tag="suppress"):
    """Delete a person and block their identifiers from coming back."""

    who: Identifier


class Unsuppress(msgspec.Struct, frozen=True, tag="unsuppress"):
    """Lift the block on a suppressed person's identifiers."""

    who: Identifier


class SubmitForm(msgspec.Struct, frozen=True, tag="submit_form"):
    """Record a form submission (the form connection) and identify its submitter, if named."""

    form_id: str
    fields: dict[str, str]
    who: Identifier | None = None


class DeliveryMetric(msgspec.Struct, frozen=True, tag="delivery_metric"):
    """A metric reported for a message delivery (opened, clicked, …)."""

    delivery_id: str
    metric: str
    source: str
    timestamp: int | None = None
    data: dict[str, Any] = {}


class Unsubscribe(msgspec.Struct, frozen=True, tag="unsubscribe"):
    """Unsubscribe (or resubscribe) the person a delivery was sent to."""

    delivery_id: str
    unsubscribe: bool


class RejectedCall(msgspec.Struct, frozen=True, tag="rejected_call"):
    """A call accepted on the wire (permissive mode) that could not be applied: recorded as a
    workspace activity so that it is visible instead of silently dropped."""

    source: str
    reason: str
    field: str
    message: str
    call_type: str | None = None
    batch_index: int | None = None
    message_id: str | None = None


Operation = (
    Identify
    | IdentifyAnonymous
    | PersonRelationships
    | IdentifyObject
    | DeleteObject
    | ObjectRelationships
    | DeletePerson
    | TrackEvent
    | AddDevice
    | DeleteDevice
    | Merge
    | Suppress
    | Unsuppress
    | SubmitForm
    | DeliveryMetric
    | Unsubscribe
    | RejectedCall
)


def names_phone(op: Operation) -> bool:
    """True when ``op`` addresses a person by phone (allowed only where the workspace says)."""
    if isinstance(op, TrackEvent):  # the common cases, without walking every field
        return op.who is not None and op.who.kind == "phone"
    if isinstance(op, Identify) and not (op.add_relationships or op.delete_relationships):
        return op.who.kind == "phone"
    for value in msgspec.structs.astuple(op):
        if isinstance(value, Identifier) and value.kind == "phone":
            return True
        if isinstance(value, tuple):
            for item in value:
                if isinstance(item, Related) and item.person and item.person.kind == "phone":
                    return True
    return False
