"""The web client's JSDoc types (src/townhall/web/js/types.js) are the server's contract:
each typedef that names an OpenAPI schema (`schema: X`) or event types (`event: a b`) has
exactly their fields, optional exactly where the server may leave a field out. A field
renamed, added or dropped on the server fails here until types.js follows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from townhall.api.app import create_app
from townhall.bus import events
from townhall.config import load_settings

TYPES = Path(__file__).resolve().parents[1] / "src/townhall/web/js/types.js"
PROPERTY = re.compile(r"@property \{.*?\} (\[?)(\w+)\]?")


def typedefs() -> list[tuple[str, str, dict[str, bool]]]:
    """(name, `schema: X` or `event: a b`, {field: optional}) of each marked typedef."""
    out = []
    for block in TYPES.read_text().split("@typedef")[1:]:
        name = block.split("}", 1)[1].split()[0]
        mark = re.search(r"^\s*\* (schema|event): (.+)$", block, re.M)
        if mark is None:
            continue
        fields = {m.group(2): m.group(1) == "[" for m in PROPERTY.finditer(block)}
        out.append((name, f"{mark.group(1)}: {mark.group(2).strip()}", fields))
    return out


def event_models() -> dict[str, Any]:
    models = {}
    for cls in vars(events).values():
        if isinstance(cls, type) and issubclass(cls, events.EventData):
            kind = cls.model_fields.get("type")
            if kind is not None and isinstance(kind.default, str):
                models[kind.default] = cls
    return models


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("types")
    app = create_app(load_settings(data_dir=data, database_url=f"sqlite+aiosqlite:///{data}/t.db"))
    return dict(app.openapi()["components"]["schemas"])


def test_types_js_marks_the_contract() -> None:
    marked = {name for name, _, _ in typedefs()}
    assert {"SpaceView", "Snapshot", "StageMember", "MyPlace", "RoleChangedData"} <= marked
    marks = [mark for _, mark, _ in typedefs()]
    covered = {t for mark in marks if mark.startswith("event:") for t in mark.split()[1:]}
    missing = set(event_models()) - covered
    assert not missing, f"types.js has no typedef for the events {sorted(missing)}"


@pytest.mark.parametrize("name,mark,fields", typedefs(), ids=[t[0] for t in typedefs()])
def test_typedef_matches_the_server(
    name: str, mark: str, fields: dict[str, bool], schemas: dict[str, Any]
) -> None:
    kind, _, target = mark.partition(": ")
    if kind == "schema":
        schema = schemas[target]
        required = set(schema.get("required", []))
        server = {f: f not in required for f in schema.get("properties", {})}
        assert fields == server, f"{name} (schema {target}) differs from the server's"
        return
    models = event_models()
    for event_type in target.split():
        model = models[event_type]
        server = {f: not info.is_required() for f, info in model.model_fields.items()}
        server.pop("type")
        assert fields == server, f"{name} differs from the {event_type} event's data"
