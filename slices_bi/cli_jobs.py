"""The `slices-bi` commands that run a job or act on stuck work: catalog sync, cleanup,
status, retry, abandon (the parser is in `slices_bi.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import timedelta

from slices_bi.settings import get_settings


def _prefect_reachable() -> bool:
    """True when the configured Prefect server answers; it then receives this process's runs
    (never a throw-away ephemeral server)."""
    import httpx

    url = get_settings().prefect_api_url
    os.environ["PREFECT_API_URL"] = url
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    try:
        return httpx.get(f"{url}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _run_job(flow_job: Callable[[], object], plain_job: Callable[[], object], label: str) -> int:
    """Run a job as a flow run (in the Prefect UI, with its artifact) when Prefect answers,
    else without Prefect."""
    from slices_bi.catalog import metric_store
    from slices_bi.catalog.migrate import upgrade
    from slices_bi.openstack.errors import CloudError

    upgrade()
    try:
        if _prefect_reachable():
            report = flow_job()
        else:
            url = get_settings().prefect_api_url
            print(f"Prefect does not answer at {url}: {label} runs without a flow run.")
            report = plain_job()
    except CloudError as exc:
        print(f"error: {label} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        metric_store.flush()  # the cloud calls it counted
    print(report)
    return 0


def catalog_sync(_: argparse.Namespace) -> int:
    from slices_bi.flows import catalog_sync

    return _run_job(
        catalog_sync.catalog_sync,
        lambda: catalog_sync.run_catalog_sync(get_settings()),
        "catalog sync",
    )


def cleanup(_: argparse.Namespace) -> int:
    from slices_bi.flows import expiry_cleanup

    return _run_job(
        expiry_cleanup.expiry_cleanup,
        lambda: expiry_cleanup.run_expiry_cleanup(get_settings()),
        "expiry cleanup",
    )


def status(_: argparse.Namespace) -> int:
    from slices_bi.operations import unsettled

    _prefect_reachable()
    rows = unsettled()
    if not rows:
        print("No unsettled task: every task is finished, failed or cancelled.")
        return 0
    print(f"{'task':<42} {'kind':<9} {'status':<8} {'age':>8} {'idle':>8}  run state / message")
    for row in rows:
        age, idle = _duration(row.age), _duration(row.idle)
        head = f"{row.task_id:<42} {row.kind:<9} {row.status:<8} {age:>8} {idle:>8}"
        print(f"{head}  {row.run_state}")
        print(f"{'':<79}{row.message[:120]}")
    print("\nResume one with `slices-bi retry TASK`; give one up with `slices-bi abandon TASK`.")
    return 0


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def retry(args: argparse.Namespace) -> int:
    from slices_bi.operations import OperationError, retry

    _prefect_reachable()
    try:
        print(retry(args.task_id))
    except OperationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def abandon(args: argparse.Namespace) -> int:
    from slices_bi.operations import OperationError, abandon

    _prefect_reachable()
    try:
        print(abandon(args.task_id, args.reason))
    except OperationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
