"""/docs: Swagger UI served from the package (no CDN), under the strict CSP."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "docs_ui"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} API</title>
  <link rel="icon" type="image/png" href="/docs/assets/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui/swagger-ui.css">
  <link rel="stylesheet" href="/docs/assets/docs.css">
  <script src="/docs/assets/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</head>
<body>
  <div id="swagger-ui"></div>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """GET /docs (the page) and /docs/assets/* (Swagger UI's files and ours)."""
    page = PAGE.format(title=app.title)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.mount("/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")
