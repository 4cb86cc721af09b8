"""/openapi.json declares the error answers (with the error model) where they occur."""

from __future__ import annotations

from typing import Any

import httpx

ERROR_REF = "#/components/schemas/ErrorResponse"


def _errors(operation: dict[str, Any]) -> set[int]:
    statuses = set()
    for status, response in operation["responses"].items():
        if status.isdigit() and int(status) >= 400:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (status, schema)  # never FastAPI's own
            statuses.add(int(status))
    return statuses


async def test_error_responses_are_declared_with_the_error_model(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert {"code", "message", "field"} <= set(
        doc["components"]["schemas"]["ErrorDetail"]["properties"]
    )
    join = paths["/api/v1/spaces/{space_id}/join"]["post"]
    assert {401, 403, 404, 409, 422, 429, 503} <= _errors(join)
    login = paths["/api/v1/auth/login"]["post"]
    assert {401, 422, 429} <= _errors(login)
    assert 503 in _errors(paths["/healthz"]["get"])
    # Every operation of the API declares its errors.
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            assert 503 in _errors(operation), (method, path)
            if not path.startswith("/api/v1/auth/"):
                assert 401 in _errors(operation), (method, path)


async def test_every_json_answer_is_described_by_a_model(client: httpx.AsyncClient) -> None:
    """Each success answer in JSON names its model: no bare `object` left (issue 9)."""
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    undescribed = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:  # audio, playlists, WebVTT: not JSON
                    continue
                ref = schema.get("$ref", "")
                if not ref or not schemas[ref.rsplit("/", 1)[-1]].get("properties"):
                    undescribed.append(f"{method.upper()} {path} {status}: {schema}")
    assert not undescribed, "\n".join(undescribed)
