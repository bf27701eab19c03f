"""Every cloud call made inside a flow run goes into that run's logs with the request id
the cloud returned (`x-openstack-request-id`), so an operator can grep the cloud's own logs
for it. Calls made outside a run (the shared server watcher) are logged at DEBUG only."""

from __future__ import annotations

import logging

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from slices_bi.observability import cloud_calls
from slices_bi.observability.cloud_calls import CloudCall

logger = logging.getLogger(__name__)


def log_call(call: CloudCall) -> None:
    """Log `call` in the current run's logs (or at DEBUG outside a run)."""
    args = (call.method, call.service, call.path, call.status, call.request_id or "-")
    try:
        run_logger = get_run_logger()
    except MissingContextError:
        logger.debug("cloud call %s %s %s -> %s x-openstack-request-id=%s", *args)
        return
    run_logger.info("cloud call %s %s %s -> %s x-openstack-request-id=%s", *args)


def install() -> None:
    """Log the cloud calls of this process's flow runs (idempotent)."""
    cloud_calls.add_listener(log_call)
