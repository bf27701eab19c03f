"""Dry run of `POST /resources`: every check of a real request, the cloud pre-flight
included, collected instead of stopping at the first; nothing is written or started.

A real request refuses synchronously what the catalog can tell (ids, names, expiry, keys,
user data, network) and fails its task at once on what only the cloud can tell (quota,
image-vs-flavor fit in the cloud, external network); a dry run answers both as checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeVar

from sqlmodel import Session

from slices_bi.catalog import repository, rules
from slices_bi.catalog.answers import (
    CheckPublic,
    CloudVmPublic,
    DryRunPublic,
    ExpiryGrantPublic,
    PlannedResourcePublic,
    QuotaPublic,
)
from slices_bi.catalog.cloudinit import UserDataError, build_payload
from slices_bi.catalog.errors import CatalogError, Invalid
from slices_bi.catalog.resources import Requester, flavor_of, image_of, request_hash
from slices_bi.catalog.schemas import ResourceSpec, ResourcesRequest
from slices_bi.catalog.types import utcnow
from slices_bi.openstack.plans import PreflightReport, VmAsk
from slices_bi.settings import get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Preflight(Protocol):
    """Checks VMs and quotas against the cloud (`slices_bi.openstack.preflight`)."""

    def run(self, asks: list[VmAsk], external_network: str) -> PreflightReport:
        """The report; raises when the cloud cannot be asked."""
        ...


def grant_public(grant: rules.ExpiryGrant) -> ExpiryGrantPublic:
    """The answer form of an expiry grant."""
    return ExpiryGrantPublic(
        requested=grant.requested,
        granted=grant.granted,
        latest_allowed=grant.latest_allowed,
        clamped=grant.clamped,
        limited_by=grant.limited_by,
        reason=grant.reason,
    )


def plan_request(
    session: Session,
    *,
    body: ResourcesRequest,
    requester: Requester,
    networks: rules.NetworkChecker | None,
    preflight: Preflight | None,
) -> DryRunPublic:
    """What `POST /resources` with `body` would do now; reads only."""
    checks: list[CheckPublic] = []
    _check_request_id(session, body, requester, checks)
    expiry = _check_expiry(body, requester, checks)
    keys: list[str] = []
    try:
        keys = rules.checked_keys(body.ssh_authorized_keys)
        checks.append(_passed("ssh_authorized_keys"))
    except CatalogError as exc:
        checks.append(_failed("ssh_authorized_keys", exc))
    vms = _VmChecks(session, requester, networks, keys, expiry, checks)
    for index, spec in enumerate(body.resources):
        vms.check(index, spec)
    if len(vms.asks) == len(vms.planned):
        quota = _preflight(preflight, vms.asks, vms.planned, checks)
    else:
        quota = []
        detail = "the cloud was not asked: fix the failed checks above first"
        checks.append(CheckPublic(check="preflight", ok=False, error="not_checked", detail=detail))
    failed = [c for c in checks if not c.ok]
    if failed:
        message = f"the request would fail {len(failed)} check(s): " + "; ".join(
            c.detail for c in failed[:5]
        )
    else:
        until = expiry.granted.isoformat() if expiry and expiry.granted else "?"
        message = f"the request for {len(vms.planned)} resource(s) until {until} would be accepted"
    return DryRunPublic(
        would_succeed=not failed,
        message=message,
        expires_at=expiry,
        resources=vms.planned,
        checks=checks,
        quota=quota,
    )


def _passed(name: str, index: int | None = None) -> CheckPublic:
    return CheckPublic(check=name, ok=True, resource=index)


def _failed(name: str, exc: CatalogError, index: int | None = None) -> CheckPublic:
    return CheckPublic(check=name, ok=False, error=exc.code, detail=exc.detail, resource=index)


class _VmChecks:
    """The checks of each VM of a request, as `resources._build_resources` makes them."""

    def __init__(
        self,
        session: Session,
        requester: Requester,
        networks: rules.NetworkChecker | None,
        keys: list[str],
        expiry: ExpiryGrantPublic | None,
        checks: list[CheckPublic],
    ) -> None:
        self.session, self.networks, self.keys = session, networks, keys
        self.expiry, self.checks = expiry, checks
        self.taken = repository.live_friendly_names(session, requester.experiment_id)
        self.seen: dict[str, int] = {}
        self.planned: list[PlannedResourcePublic] = []
        self.asks: list[VmAsk] = []

    def _try(self, name: str, index: int, work: Callable[[], T]) -> T | None:
        try:
            value = work()
        except CatalogError as exc:
            self.checks.append(_failed(name, exc, index))
            return None
        self.checks.append(_passed(name, index))
        return value

    def check(self, index: int, spec: ResourceSpec) -> None:
        field, session = f"resources[{index}]", self.session
        image = self._try(
            "disk_image_id", index, partial(image_of, session, spec.disk_image_id, field)
        )
        flavor = self._try("flavor_id", index, partial(flavor_of, session, spec.flavor_id, field))
        if image is not None and flavor is not None:
            self._try("image_fits_flavor", index, partial(rules.check_fit, image, flavor, field))
        lowered = spec.friendly_name.lower()
        if lowered in self.seen or lowered in self.taken:
            where = f"resources[{self.seen[lowered]}]" if lowered in self.seen else "a live one"
            detail = f"{field}.friendly_name: {spec.friendly_name!r} is used by {where}"
            error = "duplicate_friendly_name"
            self.checks.append(
                CheckPublic(
                    check="friendly_name", ok=False, error=error, detail=detail, resource=index
                )
            )
        else:
            self.checks.append(_passed("friendly_name", index))
        self.seen.setdefault(lowered, index)
        network = self._try(
            "network",
            index,
            partial(
                rules.network_of, spec.network_name, spec.network_interfaces, field, self.networks
            ),
        )
        try:
            build_payload(spec.userdata, self.keys)
            self.checks.append(_passed("userdata", index))
        except UserDataError as exc:
            refused = Invalid(f"{field}.userdata: {exc}", code="invalid_userdata")
            self.checks.append(_failed("userdata", refused, index))
        self.planned.append(
            PlannedResourcePublic(
                friendly_name=spec.friendly_name,
                disk_image_id=spec.disk_image_id,
                disk_image_name=image.friendly_name if image else None,
                flavor_id=spec.flavor_id,
                flavor_name=flavor.friendly_name if flavor else None,
                network_name=network,
                public_ipv4=spec.public_ipv4,
                expires_at=self.expiry.granted if self.expiry else None,
                cloud=None,
            )
        )
        if image is not None and flavor is not None and network is not None:
            key = str(index)
            self.asks.append(VmAsk(key, image.location, flavor.location, network, spec.public_ipv4))


def _check_request_id(
    session: Session, body: ResourcesRequest, requester: Requester, checks: list[CheckPublic]
) -> None:
    existing = repository.find_task_by_request(
        session, experiment_id=requester.experiment_id, request_id=str(body.request_id)
    )
    if existing is None:
        checks.append(CheckPublic(check="request_id", ok=True))
    elif existing.request_hash == request_hash(body):
        detail = f"already used by this body: a real request answers task {existing.id} again"
        checks.append(CheckPublic(check="request_id", ok=True, detail=detail))
    else:
        detail = f"request_id {body.request_id} was already used with a different body"
        checks.append(
            CheckPublic(check="request_id", ok=False, error="request_id_reused", detail=detail)
        )


def _check_expiry(
    body: ResourcesRequest, requester: Requester, checks: list[CheckPublic]
) -> ExpiryGrantPublic | None:
    try:
        grant = rules.grant_expiry(body.expires_at, requester.experiment_expires_at, utcnow())
    except CatalogError as exc:
        checks.append(CheckPublic(check="expires_at", ok=False, error=exc.code, detail=exc.detail))
        return None
    answer = grant_public(grant)
    if grant.clamped:
        # A real request is refused rather than shortened: the client asks again knowingly.
        answer.granted = None
        detail = (
            f"expires_at: {grant.requested.isoformat()} is too late, {grant.reason}; a real "
            f"request is refused (ask for {grant.latest_allowed.isoformat()} at the latest)"
        )
        checks.append(
            CheckPublic(check="expires_at", ok=False, error="invalid_expires_at", detail=detail)
        )
    else:
        checks.append(CheckPublic(check="expires_at", ok=True))
    return answer


def _preflight(
    preflight: Preflight | None,
    asks: list[VmAsk],
    planned: list[PlannedResourcePublic],
    checks: list[CheckPublic],
) -> list[QuotaPublic]:
    if preflight is None:
        checks.append(
            CheckPublic(
                check="preflight", ok=True, detail="no cloud configured for the API: not asked"
            )
        )
        return []
    try:
        report = preflight.run(asks, get_settings().external_network)
    except Exception as exc:  # the cloud out of reach: say so, never a 500
        logger.warning("dry run: pre-flight failed: %s", exc)
        checks.append(
            CheckPublic(
                check="preflight",
                ok=False,
                error="CloudUnavailable",
                detail=f"the cloud could not be asked: {exc}",
            )
        )
        return []
    for key, vm in report.vms.items():
        planned[int(key)].cloud = CloudVmPublic(
            image_id=vm.image_id,
            image_name=vm.image_name,
            flavor_id=vm.flavor_id,
            flavor_name=vm.flavor_name,
            vcpus=vm.vcpus,
            ram_mib=vm.ram_mib,
            disk_gb=vm.disk_gb,
            network_id=vm.network_id,
            network_name=vm.network_name,
        )
    for problem in report.problems:
        checks.append(
            CheckPublic(
                check=f"cloud_{problem.check}",
                ok=False,
                error=problem.reason,
                detail=problem.message,
                resource=int(problem.key) if problem.key is not None else None,
            )
        )
    for short in report.shortfalls:
        checks.append(
            CheckPublic(check="quota", ok=False, error="QuotaExceeded", detail=short.message)
        )
    if not report.problems and not report.shortfalls:
        checks.append(CheckPublic(check="preflight", ok=True))
    demand = report.demand
    return [
        QuotaPublic(
            kind=kind,
            requested=getattr(demand, kind),
            available=room.available,
            limit=room.limit,
            used=room.used,
        )
        for kind, room in report.headroom.items()
    ]
