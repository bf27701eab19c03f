"""Many identical requests at once: every one answered in bounded time, one task, no 5xx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import func, select

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.catalog.models import Resource, Task
from tests.api.conftest import bearer, request_body
from tests.api.live import serve

CONCURRENT = 100
# Generous: a bound on the answer, not a speed target (the machine may be busy).
ANSWER_TIMEOUT = 120.0


def test_identical_requests_at_once_all_get_the_first_task(
    db, tokens, image, flavor, session, launcher
):
    body = request_body(image, flavor, tokens)
    headers = {**bearer(tokens.experiment()), "Content-Type": "application/json"}
    with serve(create_app(launcher=launcher)) as url:

        def post(_: int) -> tuple[int, dict[str, str] | str]:
            try:
                with httpx.Client(timeout=ANSWER_TIMEOUT) as client:
                    answer = client.post(f"{url}{API_PREFIX}/resources", json=body, headers=headers)
            except httpx.HTTPError as exc:
                return -1, repr(exc)
            return answer.status_code, answer.json()

        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            answers = list(pool.map(post, range(CONCURRENT)))

    statuses = sorted({status for status, _ in answers})
    assert statuses == [200], [a for a in answers if a[0] != 200][:5]
    assert len({a["id"] for _, a in answers}) == 1  # type: ignore[index]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Task)).one() == 1
    assert session.exec(select(func.count()).select_from(Resource)).one() == 1
