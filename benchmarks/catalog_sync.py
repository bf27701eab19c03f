"""Benchmark of catalog-sync: 1000 images and 100 flavors, synced twice into a fresh catalog.

    .venv/bin/python benchmarks/catalog_sync.py [--images 1000] [--flavors 100]

devcloud runs in its own process (as a real cloud would), so its CPU time does not count
against the sync. For each catalog (a fresh SQLite file, and a scratch PostgreSQL database
next to TEST_DATABASE_URL when that is set) it prints, per run: wall time, the cloud API
calls devcloud counted, the catalog statements that wrote (INSERT/UPDATE/DELETE), and the
report. Run 1 includes Keystone authentication and endpoint discovery; run 2 does not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, make_url

from slices_bi.catalog import db as catalog_db
from slices_bi.catalog.migrate import upgrade
from slices_bi.flows.catalog_sync import run_catalog_sync
from slices_bi.openstack.connection import close_connections
from slices_bi.settings import Settings


@contextmanager
def devcloud_process(clouds_yaml: Path) -> Iterator[httpx.Client]:
    """A devcloud in a child process; yields a client of its admin API."""
    command = [sys.executable, "-m", "slices_bi.devcloud", "--port", "0", "--boot-delay", "0"]
    command += ["--clouds-yaml", str(clouds_yaml), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if match is None:
            raise RuntimeError(f"devcloud did not start: {first!r}")
        with httpx.Client(base_url=match[1], trust_env=False, timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:  # the socket is bound before uvicorn listens on it
                try:
                    client.get("/devcloud").raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.05)
            yield client
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def catalogs(scratch: Path) -> Iterator[list[tuple[str, str]]]:
    """(label, URL) of the catalogs to benchmark: fresh SQLite, and a scratch PostgreSQL db."""
    found = [("sqlite", f"sqlite:///{scratch / 'catalog.db'}")]
    base = os.environ.get("TEST_DATABASE_URL")
    admin_url = None
    name = f"slices_bi_bench_{uuid.uuid4().hex[:8]}"
    if base:
        admin_url = catalog_db.normalize_url(base)
        with catalog_db.get_engine(admin_url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f'CREATE DATABASE "{name}"'
            )
        found.append(("postgresql", make_url(admin_url).set(database=name).render_as_string(False)))
    try:
        yield found
    finally:
        catalog_db.dispose_engines()
        if admin_url is not None:
            with catalog_db.get_engine(admin_url).connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    f'DROP DATABASE IF EXISTS "{name}"'
                )
            catalog_db.dispose_engines()


def run_twice(label: str, url: str, admin: httpx.Client) -> None:
    upgrade(url)
    settings = Settings(cloud="devcloud", database_url=url)
    writes: list[str] = []

    def count_writes(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    engine = catalog_db.get_engine(url)
    event.listen(engine, "before_cursor_execute", count_writes)
    close_connections()  # run 1 pays for authentication, as a fresh worker process would
    for run in (1, 2):
        admin.delete("/devcloud/counters").raise_for_status()
        writes.clear()
        start = time.perf_counter()
        report = run_catalog_sync(settings)
        wall = time.perf_counter() - start
        calls: dict[str, int] = admin.get("/devcloud/counters").json()
        listing = {k: v for k, v in calls.items() if k.endswith(("/images", "/flavors/detail"))}
        print(f"[{label}] run {run}: {wall:.3f} s wall")
        total, listed = sum(calls.values()), sum(listing.values())
        print(f"    cloud calls: {total} total, {listed} listing: {calls}")
        print(f"    catalog write statements: {len(writes)} ({len(set(writes))} distinct)")
        print(f"    {report.summary()}")
    event.remove(engine, "before_cursor_execute", count_writes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--flavors", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slices-bi-bench-") as tmp:
        scratch = Path(tmp)
        clouds_yaml = scratch / "clouds.yaml"
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
        with devcloud_process(clouds_yaml) as admin, catalogs(scratch) as targets:
            body = {"images": args.images, "flavors": args.flavors}
            added = admin.post("/devcloud/seed", json=body).raise_for_status().json()["added"]
            summary = admin.get("/devcloud").json()["resources"]
            print(
                f"devcloud seeded: +{added['images']} images, +{added['flavors']} flavors "
                f"(now {summary['images']} images, {summary['flavors']} flavors)"
            )
            for label, url in targets:
                run_twice(label, url, admin)
        close_connections()
    return 0


if __name__ == "__main__":
    sys.exit(main())
