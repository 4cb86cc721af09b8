"""The error-code catalogue is complete and true: every code the source raises is in it,
with the status its exception class answers, and docs/ERRORS.md is rendered from it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from townhall.api.errors import _HTTP_CODES
from townhall.domain import errors
from townhall.domain.error_codes import ErrorCode, render_markdown

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "townhall"
STATUS = {
    cls.__name__: cls.status
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.DomainError)
}
# Calls whose first argument is an error code: (name, status or None when it has none).
CODE_CALLS = {"BadMessage", "error", "error_body", "send_error"}


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _raised() -> Iterator[tuple[str, int | None, str]]:
    """(code, HTTP status or None, where) of every literal error code in the source."""
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name == "send_error" and len(node.args) >= 3:
                code, status = node.args[2], node.args[1]
                assert isinstance(code, ast.Constant) and isinstance(code.value, str), where
                assert isinstance(status, ast.Constant) and isinstance(status.value, int), where
                yield code.value, status.value, where
            elif name in STATUS or name in CODE_CALLS:
                if not node.args or not isinstance(node.args[0], ast.Constant):
                    continue
                if not isinstance(node.args[0].value, str) or " " in node.args[0].value:
                    continue  # log.error("...") and the like
                yield node.args[0].value, STATUS.get(name or ""), where
            elif name == "parse_enum" and len(node.args) == 3:
                field = node.args[2]
                assert isinstance(field, ast.Constant) and isinstance(field.value, str), where
                yield f"invalid_{field.value}", 422, where


def test_every_code_in_the_source_is_in_the_catalogue_with_its_status() -> None:
    problems = []
    seen = 0
    for code, status, where in _raised():
        seen += 1
        if code not in ErrorCode.__members__:
            problems.append(f"{where}: {code!r} is not in domain/error_codes.py")
        elif status is not None and status not in ErrorCode[code].statuses:
            problems.append(
                f"{where}: {code!r} answers {status}, not one of {ErrorCode[code].statuses}"
            )
    assert seen > 150 and not problems, "\n".join(problems)


def test_the_generic_http_codes_are_catalogued_with_their_status() -> None:
    for status, code in _HTTP_CODES.items():
        assert status in ErrorCode[code].statuses


def test_the_errors_page_is_rendered_from_the_catalogue() -> None:
    page = (ROOT / "docs" / "ERRORS.md").read_text()
    assert page == render_markdown(), "docs/ERRORS.md is stale: run `make docs`"
