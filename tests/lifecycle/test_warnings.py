"""Expiry warnings: once per threshold, to a webhook served by the test, again after an
extension; a webhook that fails is recorded, never a secret in the payload."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from slices_bi.catalog import extension, resources, timeline
from slices_bi.catalog.db import session_scope
from slices_bi.catalog.event_models import EventKind
from slices_bi.catalog.warnings import WEBHOOK_TRIES
from slices_bi.flows.expiry_warnings import EVENT, send_warnings
from slices_bi.settings import get_settings
from tests.flows.helpers import SECRET, make_provision_task, resource_row


@pytest.fixture
def hooked(db: str, prefect_api_url: str, webhook: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SLICES_BI_EXPIRY_WEBHOOK_URL", webhook.url)
    get_settings.cache_clear()
    yield webhook
    get_settings.cache_clear()


def _send(at: Any) -> int:
    return send_warnings(get_settings(), now=at).sent


def test_each_warning_once_per_threshold_and_again_after_an_extension(hooked: Any) -> None:
    made = make_provision_task()
    expires = resource_row(made.resource_id).expires_at
    assert _send(expires - timedelta(hours=25)) == 0
    assert _send(expires - timedelta(hours=23)) == 1
    [body] = hooked.take()
    assert body == {
        "event": "expiry_warning",
        "site_id": get_settings().site_id,
        "resource_id": made.resource_id,
        "friendly_name": "vm-0",
        "experiment_id": made.experiment_id,
        "expires_at": expires.isoformat(),
        "threshold_hours": 24,
        "seconds_left": 23 * 3600,
        "events_url": f"http://127.0.0.1:8000/apis/bi.slices.eu/v1alpha2/resources/"
        f"{made.resource_id}/events",
    }
    assert SECRET not in str(body)
    assert _send(expires - timedelta(hours=2)) == 0
    assert _send(expires - timedelta(minutes=30)) == 1
    assert [b["threshold_hours"] for b in hooked.take()] == [1]
    assert _send(expires - timedelta(minutes=10)) == 0
    assert hooked.take() == []

    later = expires + timedelta(days=2)
    requester = resources.Requester(made.experiment_id, None, None, "user_test_x")
    with session_scope() as session:
        extension.extend_resource(
            session, resource_id=made.resource_id, requester=requester, expires_at=later
        )
    assert _send(later - timedelta(hours=23)) == 1
    [again] = hooked.take()
    assert (again["threshold_hours"], again["expires_at"]) == (24, later.isoformat())
    with session_scope() as session:
        events = timeline.events_of(session, made.resource_id)
    warned = [e for e in events if e.kind == EventKind.EXPIRY_WARNING]
    assert [(e.data["threshold_hours"], e.data["webhook"]) for e in warned] == [
        (24, "delivered"),
        (1, "delivered"),
        (24, "delivered"),
    ]


def test_a_late_start_sends_only_the_tightest_warning_and_a_prefect_event(hooked: Any) -> None:
    made = make_provision_task()
    expires = resource_row(made.resource_id).expires_at
    assert _send(expires - timedelta(minutes=20)) == 1
    assert [b["threshold_hours"] for b in hooked.take()] == [1]
    assert _send(expires - timedelta(minutes=19)) == 0
    wanted = EventFilter(
        event=EventNameFilter(name=[EVENT]),
        resource=EventResourceFilter(id=[f"slices-bi.resource.{made.resource_id}"]),
    )
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while not (events := client.read_events(filter=wanted, limit=10).events):
            assert time.monotonic() < deadline, "the Prefect event never arrived"
            time.sleep(0.5)
    [event] = events
    assert event.payload["experiment_id"] == made.experiment_id
    assert event.payload["threshold_hours"] == 1
    assert SECRET not in event.model_dump_json()


def test_a_failing_webhook_is_recorded_and_tried_again_at_the_next_passes(
    db: str, prefect_api_url: str, webhook: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLICES_BI_EXPIRY_WEBHOOK_URL", "http://127.0.0.1:9/nothing-listens")
    get_settings.cache_clear()
    made = make_provision_task()
    expires = resource_row(made.resource_id).expires_at
    summary = send_warnings(get_settings(), now=expires - timedelta(hours=1))
    assert (summary.sent, summary.webhook_failures) == (1, 1)
    with session_scope() as session:
        [event] = timeline.events_of(session, made.resource_id)
    assert event.kind == EventKind.EXPIRY_WARNING
    assert event.data["webhook"].startswith("failed: ")
    summary = send_warnings(get_settings(), now=expires - timedelta(minutes=59))
    assert (summary.sent, summary.retried, summary.webhook_failures) == (0, 1, 1)

    monkeypatch.setenv("SLICES_BI_EXPIRY_WEBHOOK_URL", webhook.url)  # the receiver is back
    get_settings.cache_clear()
    summary = send_warnings(get_settings(), now=expires - timedelta(minutes=58))
    assert (summary.sent, summary.retried, summary.webhook_failures) == (0, 1, 0)
    [body] = webhook.take()
    assert (body["resource_id"], body["threshold_hours"]) == (made.resource_id, 1)
    summary = send_warnings(get_settings(), now=expires - timedelta(minutes=57))
    assert (summary.sent, summary.retried) == (0, 0)
    assert webhook.take() == []
    get_settings.cache_clear()


def test_a_webhook_is_given_up_after_its_tries(
    db: str, prefect_api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLICES_BI_EXPIRY_WEBHOOK_URL", "http://127.0.0.1:9/nothing-listens")
    get_settings.cache_clear()
    made = make_provision_task()
    expires = resource_row(made.resource_id).expires_at
    tries = [
        send_warnings(get_settings(), now=expires - timedelta(minutes=50 - n)).webhook_failures
        for n in range(WEBHOOK_TRIES + 2)
    ]
    assert tries == [1] * WEBHOOK_TRIES + [0, 0]
    get_settings.cache_clear()
