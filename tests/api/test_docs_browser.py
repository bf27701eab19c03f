"""The documentation pages work under their content security policy, in real chromium.

Chromium logs every CSP violation to its console; the pages must cause none, whether the
Swagger UI assets come from the CDN (FastAPI's default page) or from this site.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.api.headers import SecurityHeaders
from tests.api.live import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# A stand-in for self-hosted swagger-ui-bundle.js: it reads the document like the real one.
STUB_BUNDLE = """
window.SwaggerUIBundle = Object.assign(function (config) {
  fetch(config.url).then(r => r.json()).then(doc => {
    document.body.setAttribute("data-operations", Object.keys(doc.paths).length);
  });
  return {};
}, {presets: {apis: {}}, SwaggerUIStandalonePreset: {}});
"""


def _browse(url: str) -> tuple[str, list[str]]:
    """The DOM chromium ends with, and its console lines that speak of the CSP."""
    assert CHROMIUM is not None
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    return run.stdout, [line for line in console if "Content Security Policy" in line]


def test_docs_and_redoc_from_the_cdn_break_no_csp_rule(db, launcher):
    with serve(create_app(launcher=launcher)) as url:
        for page in ("/docs", "/redoc"):
            _, violations = _browse(url + page)
            assert violations == [], (page, violations)


def test_self_hosted_swagger_ui_works_under_the_docs_csp(db, launcher):
    app = create_app(launcher=launcher)

    @app.get("/docs/assets/swagger-ui-bundle.js", include_in_schema=False)
    def bundle() -> Response:
        return Response(STUB_BUNDLE, media_type="text/javascript")

    @app.get("/docs/assets/swagger-ui.css", include_in_schema=False)
    def css() -> Response:
        return Response("body { margin: 0 }", media_type="text/css")

    @app.get("/docs/self-hosted", include_in_schema=False)
    def page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="docs",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
        )

    with serve(app) as url:
        dom, violations = _browse(url + "/docs/self-hosted")
    assert violations == []
    assert 'data-operations="' in dom  # the bundle ran and read the document


def test_the_check_sees_a_page_the_policy_blocks(db, launcher):
    # The docs page under the JSON answers' policy: chromium reports the blocked scripts.
    bare = FastAPI(docs_url="/elsewhere", openapi_url="/openapi.json")
    with serve(SecurityHeaders(bare)) as url:
        _, violations = _browse(url + "/elsewhere")
    assert any("inline script" in line for line in violations)
