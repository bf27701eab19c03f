"""slices-bi against the floor: openstacksdk alone on the same devcloud, in the same run.

For each boot delay a fresh `slices-bi up` (SQLite, local Prefect server, devcloud) runs:

  floor  openstacksdk alone: N servers created from N threads and waited ACTIVE, then all
         deleted and waited gone;
  (a)    one request of N VMs, POST -> task finished;
  (b)    N one-VM requests sent at once, first POST -> last task finished;
  (c)    N DELETEs sent at once -> every task finished;
  (a200) at the first boot delay, --big VMs as requests of 20 sent at once;
  expiry N resources that expire together -> all deleted (time after the expiry);
  api    20 clients: GET /tasks/{id} (p50, requests/s) and refused POST /resources (p99);

and prints each time, its ratio to the floor, cloud API calls per VM (devcloud counters),
the Prefect server's 5xx answers and the peak resident memory of the whole stack.

    .venv/bin/python benchmarks/floor.py [--n 50] [--boot-delays 3 10] [--big 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PREFIX, Api, Stack, start_stack


def sdk_floor(stack: Stack, n: int) -> tuple[float, float]:
    """(create, delete) seconds for N servers with openstacksdk alone, N threads."""
    region = OpenStackConfig(config_files=[str(stack.clouds_yaml())]).get_one(cloud="devcloud")
    conn = Connection(config=region)
    image = conn.image.find_image("Ubuntu 22.04.5")
    flavor = conn.compute.find_flavor("m1.small")
    network = conn.network.find_network("private")

    def create(index: int) -> str:
        server = conn.compute.create_server(
            name=f"floor-{index}",
            image_id=image.id,
            flavor_id=flavor.id,
            networks=[{"uuid": network.id}],
        )
        conn.compute.wait_for_server(server, interval=1, wait=600)
        return str(server.id)

    def delete(server_id: str) -> None:
        conn.compute.delete_server(server_id)
        conn.compute.wait_for_delete(conn.compute.get_server(server_id), interval=1, wait=600)

    with ThreadPoolExecutor(max_workers=n) as pool:
        start = time.monotonic()
        ids = list(pool.map(create, range(n)))
        created = time.monotonic() - start
        start = time.monotonic()
        list(pool.map(delete, ids))
        deleted = time.monotonic() - start
    conn.close()
    return created, deleted


def one_request(api: Api, n: int, prefix: str) -> tuple[float, list[str]]:
    start = time.monotonic()
    task = api.post([f"{prefix}{i}" for i in range(n)])
    return api.wait_all([task["id"]]) - start, task["resource_ids"]


def many_requests(api: Api, n: int, size: int, prefix: str) -> tuple[float, list[str]]:
    batches = [[f"{prefix}{b}-{i}" for i in range(size)] for b in range(n // size)]
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        start = time.monotonic()
        tasks = list(pool.map(api.post, batches))
    ids = [rid for task in tasks for rid in task["resource_ids"]]
    return api.wait_all([t["id"] for t in tasks]) - start, ids


def delete_all(api: Api, resource_ids: list[str]) -> float:
    def delete(resource_id: str) -> dict | None:
        try:
            return api.delete(resource_id)
        except Exception as exc:  # a DELETE the API did not answer in time
            print(f"  ! DELETE {resource_id} failed: {type(exc).__name__}: {exc}")
            return None

    with ThreadPoolExecutor(max_workers=len(resource_ids)) as pool:
        start = time.monotonic()
        tasks = [t for t in pool.map(delete, resource_ids) if t is not None]
    return api.wait_all(list({t["id"] for t in tasks})) - start


def expiry(api: Api, n: int, lead: float) -> float:
    """Seconds from the common expiry of N active resources to the last one deleted."""
    task = api.post([f"exp{i}" for i in range(n)], expires_in=timedelta(seconds=lead))
    api.wait_all([task["id"]])
    mine = set(task["resource_ids"])
    expires_at = time.monotonic() + lead - 1  # the POST went out about a second ago
    while True:
        rows = [r for r in api.resources(include_deleted=True) if r["id"] in mine]
        if all(r["status"] in ("deleted", "failed") for r in rows):
            return time.monotonic() - expires_at
        time.sleep(0.5)


def api_load(api: Api, task_id: str, clients: int = 20, seconds: float = 10) -> str:
    def hammer(kind: str) -> list[float]:
        times: list[float] = []
        stop = time.monotonic() + seconds
        bad = api.request_body(["x"], timedelta(days=1))
        bad["resources"][0]["flavor_id"] = "flavor_unknown"
        while time.monotonic() < stop:
            start = time.perf_counter()
            if kind == "get":
                api.client.get(f"{PREFIX}/tasks/{task_id}", headers=api.headers)
            else:
                api.client.post(f"{PREFIX}/resources", json=bad, headers=api.headers)
            times.append(time.perf_counter() - start)
        return times

    with ThreadPoolExecutor(max_workers=clients) as pool:
        gets = [t for ts in pool.map(hammer, ["get"] * clients) for t in ts]
        posts = [t for ts in pool.map(hammer, ["post"] * clients) for t in ts]
    p50 = statistics.median(gets) * 1000
    p99 = statistics.quantiles(posts, n=100)[98] * 1000
    return (
        f"GET /tasks/{{id}} p50 {p50:.1f} ms, {len(gets) / seconds:.0f} req/s; "
        f"refused POST /resources p50 {statistics.median(posts) * 1000:.1f} ms, p99 {p99:.1f} ms"
    )


EXTRA_ENV: dict[str, str] = {}


def run(
    boot_delay: float, n: int, big: int, api_bench: bool, expiry_lead: float, cases: set[str]
) -> None:
    print(f"\n== boot delay {boot_delay:g} s, N = {n}", flush=True)
    stack = start_stack(boot_delay, extra_env=dict(EXTRA_ENV))
    stack.start_sampling()
    try:
        idle = stack.stack_rss()
        floor_create, floor_delete = sdk_floor(stack, n)
        print(f"floor   create {floor_create:6.2f} s   delete {floor_delete:6.2f} s", flush=True)

        def show(label: str, seconds: float, floor: float) -> None:
            print(f"{label:<44} {seconds:7.2f} s  {seconds / floor:5.2f}x", flush=True)

        if "a" in cases:
            api = Api(stack)
            stack.reset_counters()
            seconds, ids = one_request(api, n, "a")
            show(f"(a) one request of {n} VMs", seconds, floor_create)
            seconds = delete_all(api, ids)
            show(f"(c) {n} DELETEs at once", seconds, floor_delete)
            print(f"cloud API calls per VM (a)+(c): {stack.counters() / n:.1f}", flush=True)

        if "b" in cases:
            api = Api(stack)
            seconds, ids = many_requests(api, n, 1, "b")
            show(f"(b) {n} one-VM requests at once", seconds, floor_create)
            seconds = delete_all(api, ids)
            show(f"(c) {n} DELETEs at once (after b)", seconds, floor_delete)

        if big:
            api = Api(stack)
            seconds, ids = many_requests(api, big, 20, "big")
            show(f"(a) {big} VMs as requests of 20 at once", seconds, floor_create)
            seconds = delete_all(api, ids)
            show(f"(c) {big} DELETEs at once", seconds, floor_delete)

        if expiry_lead:
            late = expiry(Api(stack), n, expiry_lead)
            print(f"expiry: {n} resources expiring together, last deleted {late:.1f} s after")

        if api_bench:
            api = Api(stack)
            task = api.post(["load"])
            print("api: " + api_load(api, task["id"]), flush=True)

        print(f"Prefect 5xx answers: {stack.prefect_5xx()}")
        mib = 2**20
        print(
            f"stack resident memory: idle {idle / mib:.0f} MiB, peak {stack.peak_rss / mib:.0f} MiB"
        )
    finally:
        stack.stop()
        print(f"(stack folder: {stack.folder})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--boot-delays", type=float, nargs="+", default=[10.0, 3.0])
    parser.add_argument("--big", type=int, default=200, help="VMs for the large (a); 0: skip")
    parser.add_argument("--no-api", action="store_true", help="skip the API load figures")
    parser.add_argument(
        "--expiry-lead", type=float, default=45, help="seconds until expiry; 0: skip"
    )
    parser.add_argument(
        "--cases", default="a,b", help="which of (a) and (b) to run, e.g. 'b' (default: a,b)"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the stack (repeatable)"
    )
    args = parser.parse_args()
    EXTRA_ENV.update(item.split("=", 1) for item in args.env)
    for index, boot_delay in enumerate(args.boot_delays):
        first = index == 0
        run(
            boot_delay,
            args.n,
            args.big if first else 0,
            api_bench=first and not args.no_api,
            expiry_lead=args.expiry_lead if first else 0,
            cases=set(args.cases.split(",")),
        )


if __name__ == "__main__":
    main()
