"""/docs and /redoc rendered by headless Chromium with no network but 127.0.0.1.

The pages must draw every operation from assets the API serves itself, and Swagger UI's
Authorize must carry a bearer token into "Try it out".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.catalog.models import DiskImage
from tests.api.conftest import OfflineLauncher, Tokens
from tests.api.live import serve
from tests.browser import offline_chromium, requested_urls

WAIT_SECONDS = 90
# Redoc's sidebar credit ("API docs by Redocly") always asks for this decorative logo and
# hides it when it fails to load; nothing else may leave 127.0.0.1.
REDOC_CREDIT_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def api_url(db: str) -> Iterator[str]:
    with serve(create_app(launcher=OfflineLauncher())) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with offline_chromium() as driver:
        yield driver


def _spec(api_url: str) -> dict[str, Any]:
    import httpx

    spec: dict[str, Any] = httpx.get(f"{api_url}{API_PREFIX}/openapi.json").json()
    return spec


def _operation_count(spec: dict[str, Any]) -> int:
    return sum(len(methods) for methods in spec["paths"].values())


def _assert_only_local_requests(browser: Any, api_url: str) -> None:
    urls = requested_urls(browser)
    assert urls, "the network log is empty"
    local = (f"{api_url}/", "data:", "blob:")
    foreign = [u for u in urls if not u.startswith(local) and u != REDOC_CREDIT_LOGO]
    assert not foreign, f"the page asked for other hosts: {foreign}"


def _wait(browser: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.25).until(condition)


def test_swagger_ui_renders_offline_and_authorize_carries_the_token(
    browser: Any, api_url: str, tokens: Tokens, image: DiskImage, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    spec = _spec(api_url)
    expected = _operation_count(spec)
    browser.get(f"{api_url}/docs")
    _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= expected)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == expected
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert f"{API_PREFIX}/resources" in {p.replace("\u200b", "") for p in paths}

    authorize = browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .btn.authorize")
    assert authorize.is_displayed()
    authorize.click()
    modal = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".modal-ux"))
    assert "SLICES token" in modal.text
    modal.find_element(By.CSS_SELECTOR, "input").send_keys(tokens.user())
    modal.find_element(By.CSS_SELECTOR, "button.authorize").click()
    _wait(browser, lambda b: "Logout" in b.find_element(By.CSS_SELECTOR, ".modal-ux").text)
    modal.find_element(By.CSS_SELECTOR, "button.btn-done").click()

    # "Try it out" on GET /disk-images: answered 200 only if the bearer token went along.
    list_images = spec["paths"][f"{API_PREFIX}/disk-images"]["get"]["operationId"]
    block = browser.find_element(By.CSS_SELECTOR, f"[id$='-{list_images}']")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    _wait(browser, lambda b: block.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    _wait(browser, lambda b: block.find_element(By.CSS_SELECTOR, "button.execute")).click()
    status = _wait(
        browser,
        lambda b: block.find_element(
            By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
        ),
    )
    assert status.text.strip() == "200"
    assert image.friendly_name in block.text

    browser.save_screenshot(str(tmp_path / "docs.png"))
    assert (tmp_path / "docs.png").stat().st_size > 10_000
    _assert_only_local_requests(browser, api_url)


def test_redoc_renders_every_operation_offline(browser: Any, api_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    expected = _operation_count(_spec(api_url))
    operations = "[data-section-id^='operation/']"
    browser.get(f"{api_url}/redoc")
    _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, operations)) >= expected)
    assert len(browser.find_elements(By.CSS_SELECTOR, operations)) == expected
    assert "SLICES token" in browser.page_source  # the security scheme section

    browser.save_screenshot(str(tmp_path / "redoc.png"))
    assert (tmp_path / "redoc.png").stat().st_size > 10_000
    _assert_only_local_requests(browser, api_url)
