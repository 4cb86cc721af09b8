"""docs/EVENTS.md lists the event types as the models in townhall.bus.events define them."""

from __future__ import annotations

from pathlib import Path

from townhall.bus.events import EVENT_TYPES, Event, HandLowered, MemberLeft
from townhall.bus.events_doc import models, render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"


def test_the_event_table_is_up_to_date() -> None:
    page = PAGE.read_text()
    assert render(page) == page, "docs/EVENTS.md is stale: run `make docs`"


def test_every_event_type_has_one_model() -> None:
    types = [m.model_fields["type"].default for m in models()]
    assert sorted(types) == sorted(EVENT_TYPES)


def test_models_keep_the_wire_format() -> None:
    left = Event.of("s", MemberLeft(user_id=3))
    assert (left.type, left.data) == ("member.left", {"user_id": 3})
    answered = Event.of("s", HandLowered(user_id=3, by=1, declined=True))
    assert answered.data == {"user_id": 3, "by": 1, "declined": True}
    assert answered.payload() == HandLowered(user_id=3, by=1, declined=True)
    assert Event("member.removed", "s", {"user_id": "junk", "by": 1}).payload() is None
    assert Event("no.such.type", "s", {}).payload() is None
