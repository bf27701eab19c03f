"""Starts flow runs of the provision/delete deployments: one Prefect call per task.

The task id is the idempotency key, so submitting the same task twice (a retried request,
the sweep racing a slow submission) returns the same flow run.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any
from uuid import UUID

from slices_bi import prefect_gate
from slices_bi.catalog.models import Task, TaskKind
from slices_bi.catalog.submission import Launcher
from slices_bi.deployments.names import DEPLOYMENT_OF_KIND

__all__ = ["Launcher", "PrefectLauncher", "get_launcher"]

logger = logging.getLogger(__name__)

CREATE_TRIES = 20
REQUEST_ID_TAG = "request-id:"
CREATE_RETRY_FIRST_SECONDS = 0.05


class PrefectLauncher:
    """Creates runs with `create_flow_run_from_deployment`, deployment ids cached, over one
    client kept open for the life of the process.

    Safe to call from several threads (the API bounds how many at once).
    """

    def __init__(self) -> None:
        self._deployment_ids: dict[TaskKind, UUID] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def _connected(self) -> Any:
        if self._client is None:
            from prefect.client.orchestration import get_client

            client = get_client(sync_client=True, httpx_settings=prefect_gate.httpx_settings())
            client.__enter__()
            self._client = client
        return self._client

    def _forget(self, client: Any) -> None:
        """Open a new client at the next creation, unless another thread already did. The
        old one is not closed: other threads may still be sending on it; it goes with the last
        of them."""
        with self._lock:
            if self._client is client:
                self._client = None
                self._deployment_ids.clear()

    def submit(self, task: Task, name: str | None = None) -> str | None:
        client = None
        try:
            with self._lock:
                client = self._connected()
            run = self._create(client, task, name)
        except Exception as exc:  # any failure leaves the task pending for the sweep
            logger.warning("flow run not created task_id=%s error=%s", task.id, exc)
            if client is not None:
                self._forget(client)
            return None
        logger.info("flow run created task_id=%s flow_run_id=%s", task.id, run.id)
        return str(run.id)

    def _create(self, client: Any, task: Task, name: str | None) -> Any:
        """One creation, tried again at once when the server lost a write race (503).

        Prefect's client would wait 2, 4, 8 s between tries; a SQLite-backed server loses
        such races to its own services (events, automations) during a burst, and each try
        takes milliseconds once it is served.
        """
        from prefect.exceptions import PrefectHTTPStatusError
        from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

        with self._lock:
            deployment_id = self._deployment_ids.get(task.kind)
            if deployment_id is None:
                deployment = client.read_deployment_by_name(DEPLOYMENT_OF_KIND[task.kind])
                deployment_id = self._deployment_ids[task.kind] = deployment.id
        delay = CREATE_RETRY_FIRST_SECONDS
        for attempt in range(CREATE_TRIES):
            try:
                with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
                    return client.create_flow_run_from_deployment(
                        deployment_id,
                        parameters={"task_id": task.id},
                        idempotency_key=task.id,
                        name=name or f"{task.kind.value} · {task.experiment_id}",
                        tags=_tags(task),
                    )
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code != 503 or attempt == CREATE_TRIES - 1:
                    raise
                time.sleep(random.uniform(delay / 2, delay))  # noqa: S311
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")


def _tags(task: Task) -> list[str]:
    """The run's tags: experiment, kind, and the X-Request-ID of the request that made it."""
    tags = [f"experiment:{task.experiment_id}", f"kind:{task.kind.value}"]
    if task.correlation_id:
        tags.append(f"{REQUEST_ID_TAG}{task.correlation_id}")
    return tags


_default_launcher: PrefectLauncher | None = None


def get_launcher() -> PrefectLauncher:
    """The process-wide launcher."""
    global _default_launcher
    if _default_launcher is None:
        _default_launcher = PrefectLauncher()
    return _default_launcher
