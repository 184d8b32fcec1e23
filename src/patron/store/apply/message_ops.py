"""Form submissions, delivery metrics, unsubscribes, and calls recorded as rejected."""

from __future__ import annotations

from email.utils import getaddresses
from typing import Any

import sqlalchemy as sa

from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier
from patron.domain.operations import (
    DeliveryMetric,
    Identify,
    RejectedCall,
    SubmitForm,
    Unsubscribe,
)
from patron.store.apply.writer_base import WriterBase
from patron.store.deliveries import suppress_address
from patron.store.schema import deliveries, delivery_metrics, forms

# Metrics after which no more email goes to the address (a hard bounce, a spam complaint).
SUPPRESSING_METRICS = frozenset({"bounced", "spammed"})
FORM_RESERVED_FIELDS = frozenset(
    {"form_id", "form_name", "form_type", "form_url", "form_url_param"}
)


class MessageOps(WriterBase):
    """The form, delivery and rejection operations of the writer."""

    def _submit_form(self, op: SubmitForm) -> None:
        table = forms
        row = self.conn.execute(
            sa.select(table.c.fields, table.c.submissions).where(
                table.c.workspace_id == self.ws, table.c.form_id == op.form_id
            )
        ).first()
        fields = sorted(set(op.fields) | set(row.fields if row else ()))
        if row is None:
            self.conn.execute(
                table.insert().values(
                    workspace_id=self.ws,
                    form_id=op.form_id,
                    fields=fields,
                    submissions=1,
                    created_at=self.now,
                    last_submitted_at=self.now,
                )
            )
        else:
            self.conn.execute(
                table.update()
                .where(table.c.workspace_id == self.ws, table.c.form_id == op.form_id)
                .values(fields=fields, submissions=row.submissions + 1, last_submitted_at=self.now)
            )
        if op.who is None:
            return
        attributes = {
            k: v
            for k, v in op.fields.items()
            if k not in FORM_RESERVED_FIELDS and k not in ("id", "email")
        }
        assign = {k: op.fields[k] for k in ("id", "email") if op.fields.get(k)}
        assign.pop(op.who.kind, None)
        self._identify(Identify(who=op.who, attributes=attributes, assign=assign))

    def _delivery_metric(self, op: DeliveryMetric) -> None:
        self.conn.execute(
            delivery_metrics.insert().values(
                workspace_id=self.ws,
                delivery_id=op.delivery_id,
                metric=op.metric,
                source=op.source,
                timestamp=self.now if op.timestamp is None else op.timestamp,
                data=op.data,
            )
        )
        if op.metric in SUPPRESSING_METRICS:
            self._suppress_recipient(op)

    def _suppress_recipient(self, op: DeliveryMetric) -> None:
        """A hard bounce or a spam report: no more email to that address (as Customer.io's
        email provider suppresses it)."""
        row = self.conn.execute(
            sa.select(deliveries.c.channel, deliveries.c.recipient).where(
                deliveries.c.workspace_id == self.ws, deliveries.c.delivery_id == op.delivery_id
            )
        ).first()
        if row is None or row.channel != "email":
            return
        given = op.data.get("recipient")
        text = given if isinstance(given, str) and given else row.recipient or ""
        for address in getaddresses([text]):
            if "@" in address[1]:
                suppress_address(
                    self.conn, self.ws, address[1], op.metric, op.delivery_id, self.now
                )

    def _unsubscribe(self, op: Unsubscribe) -> None:
        delivery = self.conn.execute(
            sa.select(deliveries.c.person_pk, deliveries.c.channel).where(
                deliveries.c.workspace_id == self.ws, deliveries.c.delivery_id == op.delivery_id
            )
        ).first()
        if delivery is None:
            raise InvalidInput(f"delivery_id {op.delivery_id} does not exist", field="delivery_id")
        metric = "unsubscribed" if op.unsubscribe else "resubscribed"
        self._delivery_metric(DeliveryMetric(op.delivery_id, metric, "unsubscribe"))
        if delivery.person_pk is not None:
            person = self._get(delivery.person_pk)
            self._activity(
                f"{metric}_{delivery.channel}",
                delivery.person_pk,
                data={"delivery_id": op.delivery_id},
            )
            self._identify(
                Identify(
                    who=Identifier("cio_id", person.cio_id),
                    attributes={"unsubscribed": op.unsubscribe},
                )
            )

    def _rejected_call(self, op: RejectedCall) -> None:
        data: dict[str, Any] = {
            "source": op.source,
            "reason": op.reason,
            "field": op.field,
            "message": op.message,
        }
        if op.batch_index is not None:
            data["batch_index"] = op.batch_index
        if op.message_id is not None:
            data["message_id"] = op.message_id
        self._activity("rejected_call", None, name=op.call_type, data=data)
