"""The documentation pages work under their content security policy, in real chromium.

Chromium logs every CSP violation to its console; /docs and /redoc (their assets served by
the API itself) must cause none.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from fastapi import FastAPI

from slices_bi.api.app import create_app
from slices_bi.api.headers import SecurityHeaders
from tests.api.live import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


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


# ReDoc's decorative credit logo: the one thing the policy is there to stop (another host).
REDOC_CREDIT_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_docs_and_redoc_break_no_csp_rule(db, launcher):
    with serve(create_app(launcher=launcher)) as url:
        for page in ("/docs", "/redoc"):
            _, violations = _browse(url + page)
            unexpected = [line for line in violations if REDOC_CREDIT_LOGO not in line]
            assert unexpected == [], (page, unexpected)


def test_the_check_sees_a_page_the_policy_blocks(db, launcher):
    # The docs page under the JSON answers' policy: chromium reports the blocked scripts.
    bare = FastAPI(docs_url="/elsewhere", openapi_url="/openapi.json")
    with serve(SecurityHeaders(bare)) as url:
        _, violations = _browse(url + "/elsewhere")
    assert any("inline script" in line for line in violations)
