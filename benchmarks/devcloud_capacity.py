"""devcloud capacity: concurrent boots through the unmodified openstacksdk, and
list/get timings as the number of servers grows.

    .venv/bin/python benchmarks/devcloud_capacity.py [--initial 100] [--total 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from openstack.connection import Connection
from requests.adapters import HTTPAdapter

from slices_bi.devcloud.server import DevcloudServer

COLUMNS = (
    ("list HTTP", 10),
    ("list SDK", 10),
    ("name= SDK", 10),
    ("get HTTP", 9),
    ("get SDK", 8),
    ("ports SDK", 10),
)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Average seconds of ``repeat`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def boot_many(
    conn: Connection, count: int, workers: int, offset: int, ids: dict[str, str]
) -> tuple[float, list[float]]:
    """Create + wait for ``count`` servers on ``workers`` threads: (wall s, latencies s)."""

    def one(n: int) -> float:
        start = time.perf_counter()
        server = conn.compute.create_server(
            name=f"bench-{offset + n:05d}",
            image_id=ids["image"],
            flavor_id=ids["flavor"],
            networks=[{"uuid": ids["network"]}],
            metadata={"bench": "1"},
            tags=["bench"],
        )
        conn.compute.wait_for_server(server, wait=120, interval=0.5)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        latencies = list(pool.map(one, range(count)))
    return time.perf_counter() - start, latencies


def calls_per_server(counters: dict[str, int], servers: int) -> dict[str, float]:
    by_service: Counter[str] = Counter()
    for key, value in counters.items():
        by_service[key.split(" ", 1)[1].split("/")[1]] += value
    return {service: total / servers for service, total in sorted(by_service.items())}


def report_boot(
    counters: dict[str, int], count: int, workers: int, wall: float, lat: list[float]
) -> None:
    print(f"== {count} servers booted concurrently ({workers} threads, one shared connection)")
    print(f"wall time           {wall:8.2f} s  ({count / wall:.0f} servers/s)")
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    print(f"per-server latency  p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lat) * 1000:.1f} ms")
    calls = calls_per_server(counters, count)
    print("calls per server    " + ", ".join(f"{s} {c:.2f}" for s, c in calls.items()))
    for key, value in sorted(counters.items()):
        print(f"  {value:6d}  {key}")


def report_growth(
    dc: DevcloudServer, conn: Connection, args: argparse.Namespace, ids: dict[str, str]
) -> None:
    print("\n== list/get with N servers (ms, averages)")
    print("   HTTP = raw request timed at the client (devcloud's own cost);")
    print("   SDK  = openstacksdk call (mostly the SDK building Resource objects)")
    print(f"{'N':>6} " + " ".join(f"{name:>{width}}" for name, width in COLUMNS))
    headers = {"X-Auth-Token": conn.session.get_token(), "OpenStack-API-Version": "compute 2.96"}
    raw = httpx.Client(base_url=f"{dc.url}/compute/v2.1", headers=headers, trust_env=False)
    count = args.initial
    while True:
        servers = list(conn.compute.servers(details=False))
        probe = servers[-1].id
        row = [
            timed(lambda: raw.get("/servers/detail").raise_for_status(), 5),
            timed(lambda: list(conn.compute.servers()), 2),
            timed(lambda: list(conn.compute.servers(name="^bench-00042$")), 10),
            timed(lambda p=probe: raw.get(f"/servers/{p}").raise_for_status(), 50),
            timed(lambda p=probe: conn.compute.get_server(p), 50),
            timed(lambda p=probe: list(conn.network.ports(device_id=p)), 50),
        ]
        cells = " ".join(f"{v * 1000:{w}.2f}" for v, (_, w) in zip(row, COLUMNS, strict=True))
        print(f"{len(servers):6d} {cells}")
        if count >= args.total:
            break
        add = min(args.step, args.total - count)
        wall, latencies = boot_many(conn, add, args.workers, count, ids)
        p50 = statistics.median(latencies) * 1000
        print(f"       (+{add} booted in {wall:.2f} s, p50 {p50:.1f} ms)")
        count += add
    raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--initial", type=int, default=100, help="servers booted concurrently first"
    )
    parser.add_argument("--total", type=int, default=1000, help="servers in the end")
    parser.add_argument("--step", type=int, default=300, help="servers added per growth step")
    parser.add_argument("--workers", type=int, default=100, help="client threads")
    args = parser.parse_args()

    with DevcloudServer(boot_delay=0.0, delete_delay=0.0) as dc:
        conn = dc.connect()
        # One connection shared by all threads: give it as many pooled sockets as threads.
        conn.session.session.mount("http://", HTTPAdapter(pool_maxsize=args.workers))
        net = conn.network.create_network(name="bench")
        conn.network.create_subnet(network_id=net.id, cidr="10.64.0.0/20", ip_version=4)
        ids = {
            "image": conn.image.find_image("Debian 12.5", ignore_missing=False).id,
            "flavor": conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
            "network": net.id,
        }
        list(conn.compute.servers())  # version discovery happens before the measurement
        dc.reset_counters()
        wall, latencies = boot_many(conn, args.initial, args.workers, 0, ids)
        report_boot(dc.counters(), args.initial, args.workers, wall, latencies)

        report_growth(dc, conn, args, ids)

        start = time.perf_counter()
        all_servers = list(conn.compute.servers(details=False))
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(pool.map(lambda s: conn.compute.delete_server(s.id), all_servers))
        took = time.perf_counter() - start
        left, ports = len(list(conn.compute.servers())), len(list(conn.network.ports()))
        print(f"\n== deleted {len(all_servers)} servers in {took:.2f} s")
        print(f"   servers left {left}, ports left {ports}")
        conn.close()


if __name__ == "__main__":
    main()
