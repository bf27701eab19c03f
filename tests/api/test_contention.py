"""Many identical requests at once: every one answered in bounded time, one task, no 5xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from sqlmodel import func, select

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.catalog.models import Resource, Task
from tests.api.conftest import bearer, request_body
from tests.api.live import serve

CONCURRENT = 100
# Generous: a bound on the answer, not a speed target (the machine may be busy).
ANSWER_TIMEOUT = 120.0


def _post_all_at_once(url: str, body: dict, headers: dict) -> list[tuple[int, dict | str]]:
    def post(_: int) -> tuple[int, dict | str]:
        try:
            with httpx.Client(timeout=ANSWER_TIMEOUT) as client:
                answer = client.post(f"{url}{API_PREFIX}/resources", json=body, headers=headers)
        except httpx.HTTPError as exc:
            return -1, repr(exc)
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        return list(pool.map(post, range(CONCURRENT)))


def test_identical_requests_at_once_all_get_the_first_task(
    db, tokens, image, flavor, session, launcher
):
    body = request_body(image, flavor, tokens)
    headers = bearer(tokens.experiment())
    with serve(create_app(launcher=launcher)) as url:
        answers = _post_all_at_once(url, body, headers)

    assert [a for a in answers if a[0] != 200][:5] == []
    assert len({a["id"] for _, a in answers}) == 1  # type: ignore[index]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Task)).one() == 1
    assert session.exec(select(func.count()).select_from(Resource)).one() == 1


@dataclass
class StuckLauncher:
    """A launcher that does not return until released (Prefect hanging), counting calls."""

    calls: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def submit(self, task: Task, name: str | None = None) -> str | None:
        self.calls.append(task.id)
        self.release.wait(timeout=300)
        return None


def test_a_stuck_launcher_never_holds_up_the_answers(db, tokens, image, flavor):
    launcher = StuckLauncher()
    body = request_body(image, flavor, tokens)
    headers = bearer(tokens.experiment())
    try:
        with serve(create_app(launcher=launcher)) as url:
            answers = _post_all_at_once(url, body, headers)
            calls = list(launcher.calls)
            launcher.release.set()
    finally:
        launcher.release.set()
    assert [a for a in answers if a[0] != 200][:5] == []
    assert len(set(calls)) == 1
    assert len(calls) == 1  # one submission in flight for the one task, not one per answer
