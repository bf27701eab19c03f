"""The rules a resource request must follow, each raising `Invalid` naming the field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from slices_bi.catalog.cloudinit import UserDataError, check_ssh_key
from slices_bi.catalog.errors import Invalid
from slices_bi.catalog.models import DiskImage, Flavor
from slices_bi.catalog.schemas import NetworkInterface
from slices_bi.settings import get_settings


class NetworkChecker(Protocol):
    """Says whether a network name or id resolves to exactly one network of the cloud."""

    def check(self, name_or_id: str) -> str | None:
        """None when it resolves; else why not ("missing" or "ambiguous")."""
        ...


def check_expiry(
    expires_at: datetime, experiment_expires_at: datetime | None, now: datetime
) -> None:
    """Raise Invalid unless `expires_at` is in the future and within both limits."""
    settings = get_settings()
    if expires_at <= now:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is in the past", code="invalid_expires_at"
        )
    if experiment_expires_at is not None and expires_at > experiment_expires_at:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is after the experiment's expiry "
            f"{experiment_expires_at.isoformat()}",
            code="invalid_expires_at",
        )
    limit = now + timedelta(days=settings.max_duration_days)
    if expires_at > limit:
        raise Invalid(
            f"expires_at: {expires_at.isoformat()} is more than {settings.max_duration_days} days "
            f"away (latest allowed now: {limit.isoformat(timespec='seconds')})",
            code="invalid_expires_at",
        )


@dataclass(frozen=True)
class ExpiryGrant:
    """The expiry a request for `requested` gets: `granted` is `requested` unless a limit
    (`limited_by`: "experiment_expiry" or "site_maximum") pulls it back to `latest_allowed`."""

    requested: datetime
    granted: datetime
    latest_allowed: datetime
    limited_by: str | None
    reason: str | None

    @property
    def clamped(self) -> bool:
        return self.granted < self.requested


def grant_expiry(
    requested: datetime, experiment_expires_at: datetime | None, now: datetime
) -> ExpiryGrant:
    """The expiry granted for `requested`, clamped to the earlier of the experiment's
    expiry and the site maximum (why, when it is); Invalid when `requested` is past."""
    if requested <= now:
        raise Invalid(
            f"expires_at: {requested.isoformat()} is in the past", code="invalid_expires_at"
        )
    days = get_settings().max_duration_days
    latest, limited_by = now + timedelta(days=days), "site_maximum"
    reason = (
        f"the site allows at most {days} days from now ({latest.isoformat(timespec='seconds')})"
    )
    if experiment_expires_at is not None and experiment_expires_at < latest:
        latest, limited_by = experiment_expires_at, "experiment_expiry"
        reason = f"the experiment expires at {experiment_expires_at.isoformat()}"
    if requested <= latest:
        return ExpiryGrant(requested, requested, latest, None, None)
    return ExpiryGrant(requested, latest, latest, limited_by, reason)


def check_fit(image: DiskImage, flavor: Flavor, field: str) -> None:
    """Raise Invalid when the flavor's disk or RAM is below what the image needs."""
    # Nova refuses these at boot; saying so now spares a failed task.
    if flavor.disk_mb and image.min_disk_mb > flavor.disk_mb:
        raise Invalid(
            f"{field}.flavor_id: flavor {flavor.friendly_name} has {flavor.disk_mb} MB of disk; "
            f"image {image.friendly_name} needs at least {image.min_disk_mb} MB",
            code="flavor_too_small",
        )
    if image.min_ram_mib > flavor.ram_mib:
        raise Invalid(
            f"{field}.flavor_id: flavor {flavor.friendly_name} has {flavor.ram_mib} MiB of RAM; "
            f"image {image.friendly_name} needs at least {image.min_ram_mib} MiB",
            code="flavor_too_small",
        )


def network_of(
    network_name: str | None,
    interfaces: list[NetworkInterface] | None,
    field: str,
    networks: NetworkChecker | None,
) -> str:
    """The network the VM boots on (interface, else `network_name`, else the site default),
    checked against the cloud when a checker is given."""
    if interfaces:
        if network_name and network_name != interfaces[0].network_name:
            raise Invalid(
                f"{field}.network_interfaces: names network {interfaces[0].network_name!r} "
                f"but network_name says {network_name!r}",
                code="conflicting_network",
            )
        network_name = interfaces[0].network_name
    name = network_name or get_settings().default_network
    problem = networks.check(name) if networks is not None else None
    if problem is not None:
        where = "network_name" if network_name else "network_name (site default)"
        raise Invalid(
            f"{field}.{where}: network {name!r} is {problem} in the cloud", code="unknown_network"
        )
    return name


def checked_keys(keys: list[str]) -> list[str]:
    """The SSH keys, each checked to be one OpenSSH public key line."""
    checked = []
    for index, key in enumerate(keys):
        try:
            checked.append(check_ssh_key(key))
        except UserDataError as exc:
            raise Invalid(f"ssh_authorized_keys[{index}]: {exc}", code="invalid_ssh_key") from None
    return checked
