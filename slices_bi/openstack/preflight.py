"""The pre-flight check of a whole request against the cloud as it is now: image, flavor,
image-vs-flavor fit, network, external network, and quota headroom for all the VMs at once
(Nova `GET /limits`, Neutron `GET /quotas/{project}/details`).

Final answers (missing or ambiguous things, a quota short) become `Problem`s and
`Shortfall`s in the report; transient errors (the cloud not answering) are raised, so a
flow step retries and the API says the cloud could not be asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from slices_bi.openstack import errors, lookups, network
from slices_bi.openstack.connection import connect
from slices_bi.openstack.errors import CloudError, TransientCloudError, cloud_call
from slices_bi.openstack.plans import (
    Demand,
    Headroom,
    PreflightReport,
    Problem,
    ResolvedVm,
    VmAsk,
)
from slices_bi.settings import Settings

GIB = 1024**3


def read_headroom(conn: Connection, floating_ips: bool) -> dict[str, Headroom]:
    """The project's quotas and usage: Nova's absolute limits, and Neutron's floating IP
    quota when `floating_ips`. A Neutron without quota details (403/404) leaves that kind
    out: it is then not checked."""
    with cloud_call():
        absolute = conn.compute.get_limits().absolute

    def nova(limit: Any, used: Any) -> tuple[int, int]:
        return (-1 if limit is None else int(limit)), int(used or 0)

    rooms = {
        "instances": nova(absolute.instances, absolute.instances_used),
        "cores": nova(absolute.total_cores, absolute.total_cores_used),
        "ram": nova(absolute.total_ram, absolute.total_ram_used),
    }
    headroom = {kind: Headroom(kind, *pair) for kind, pair in rooms.items()}
    if floating_ips:
        try:
            with cloud_call():
                quota = conn.network.get_quota(str(conn.current_project_id), details=True)
        except TransientCloudError:
            raise
        except CloudError:
            return headroom
        fip = quota.floating_ips or {}
        headroom["floating_ips"] = Headroom(
            "floating_ips", int(fip.get("limit", -1)), int(fip.get("used", 0))
        )
    return headroom


def _find(kind: str, finder: Callable[[], Any], ref: str) -> Any:
    """The thing `finder` finds; a `Problem` when it is missing or ambiguous."""
    try:
        with cloud_call(location=ref):
            try:
                return finder()
            except sdk_exc.NotFoundException:
                return None
            except sdk_exc.DuplicateResource:
                return Problem(
                    kind,
                    f"{kind.capitalize()}Ambiguous",
                    f"several {kind}s in the cloud are named '{ref}'",
                )
    except errors.AmbiguousError as exc:
        return Problem(kind, exc.reason, exc.message)


def _fit(image: Any, flavor: Any) -> str | None:
    """Why `flavor` cannot boot `image` (Nova's own checks), or None."""
    disk, size = int(flavor.disk or 0), int(image.size or 0)
    names = f"flavor {flavor.name}, image {image.name}"
    if disk and int(image.min_disk or 0) > disk:
        return f"{names}: the flavor has {disk} GB of disk, the image needs {image.min_disk} GB"
    if disk and size > disk * GIB:
        return f"{names}: the image ({size / GIB:.1f} GiB) is larger than the {disk} GB disk"
    if int(image.min_ram or 0) > int(flavor.ram or 0):
        return f"{names}: the flavor has {flavor.ram} MiB of RAM, the image needs {image.min_ram}"
    return None


def _load(conn: Connection, kind: str, ref: str) -> Any:
    """The image, flavor or network `ref` as the cloud has it, or the Problem with it."""
    if kind == "image":
        thing = _find(kind, lambda: conn.image.find_image(ref, ignore_missing=False), ref)
        if thing is not None and not isinstance(thing, Problem) and thing.status != "active":
            thing = Problem(kind, errors.IMAGE_NOT_FOUND, f"image '{ref}' is {thing.status}")
    elif kind == "flavor":
        thing = _find(kind, lambda: conn.compute.find_flavor(ref, ignore_missing=False), ref)
    else:
        thing = _find(kind, lambda: network.find_network(conn, ref), ref)
    if thing is None:
        reason = {"image": errors.IMAGE_NOT_FOUND, "flavor": errors.FLAVOR_NOT_FOUND}
        thing = Problem(
            kind,
            reason.get(kind, errors.NETWORK_NOT_FOUND),
            f"{kind} '{ref}' is not in the cloud",
        )
    return thing


def preflight(conn: Connection, asks: list[VmAsk], external_network: str) -> PreflightReport:
    """Check every VM of a request and the quotas for all of them together."""
    report = PreflightReport()
    found: dict[tuple[str, str], Any] = {}

    def lookup(kind: str, ref: str) -> Any:
        if (kind, ref) not in found:
            found[(kind, ref)] = lookups.cloud_object(
                kind,
                ref,
                lambda: _load(conn, kind, ref),
                lambda thing: not isinstance(thing, Problem),
            )
        return found[(kind, ref)]

    for ask in asks:
        image, flavor, net = (
            lookup(k, r)
            for k, r in (("image", ask.image), ("flavor", ask.flavor), ("network", ask.network))
        )
        problems = [p for p in (image, flavor, net) if isinstance(p, Problem)]
        report.problems.extend(Problem(p.check, p.reason, p.message, ask.key) for p in problems)
        if problems:
            continue
        why = _fit(image, flavor)
        if why is not None:
            report.problems.append(Problem("image_fits_flavor", "FlavorTooSmall", why, ask.key))
            continue
        report.vms[ask.key] = ResolvedVm(
            key=ask.key,
            image_id=str(image.id),
            image_name=str(image.name),
            flavor_id=str(flavor.id),
            flavor_name=str(flavor.name),
            vcpus=int(flavor.vcpus or 0),
            ram_mib=int(flavor.ram or 0),
            disk_gb=int(flavor.disk or 0),
            network_id=str(net.id),
            network_name=str(net.name),
        )
    public = sum(1 for a in asks if a.public_ipv4)
    if public and network.find_external_network(conn, external_network) is None:
        report.problems.append(
            Problem(
                "external_network",
                errors.NETWORK_NOT_FOUND,
                f"external network '{external_network}' for floating IPs is not in the cloud",
            )
        )
    vms = list(report.vms.values())
    report.demand = Demand(
        instances=len(asks),
        cores=sum(v.vcpus for v in vms),
        ram=sum(v.ram_mib for v in vms),
        floating_ips=public,
    )
    report.headroom = read_headroom(conn, floating_ips=public > 0)
    report.shortfalls = report.demand.shortfalls(report.headroom)
    return report


def quota_error(report: PreflightReport) -> errors.QuotaExceededError:
    """The error a provision run fails its resources with when the request does not fit."""
    return errors.QuotaExceededError(report.quota_message())


class CloudPreflight:
    """The pre-flight of the API's dry runs: reads only (limits, quotas, look-ups)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def run(self, asks: list[VmAsk], external_network: str) -> PreflightReport:
        """`preflight` on the configured cloud; raises `CloudError` when it is out of reach."""
        try:
            conn = connect(self._settings)
        except Exception as exc:
            raise errors.translate(exc) from exc
        return preflight(conn, asks, external_network)
