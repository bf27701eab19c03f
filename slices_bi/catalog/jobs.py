"""Leases that keep two runs of one scheduled job (catalog-sync, expiry-cleanup) apart.

A run takes the lease of its job for `ttl`; a second run finds it held and skips, unless
the holder is known dead (the caller checks, e.g. with Prefect, and takes it over). A dead
holder nobody checks on holds it only until `expires_at`. Kept in the catalog database, not
in Prefect: Prefect's deployment concurrency slots are leased in the server's memory by
default and outlived a server restart as a slot nobody would ever release.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col

from slices_bi.catalog.db import session_scope
from slices_bi.catalog.types import UTCDateTime, utcnow


class JobLease(SQLModel, table=True):
    """Who runs a scheduled job now, and until when the lease holds without renewal."""

    __tablename__ = "job_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


def take_lease(name: str, holder: str, ttl: timedelta) -> datetime | None:
    """Take (or renew) the lease `name` for `holder` for `ttl`; returns its new expiry, or
    None when another holder has it (`lease_holder` says who)."""
    now = utcnow()
    expires = now + ttl
    with session_scope() as session:
        taken = session.execute(
            update(JobLease)
            .where(
                col(JobLease.name) == name,
                (col(JobLease.holder) == holder) | (col(JobLease.expires_at) <= now),
            )
            .values(holder=holder, expires_at=expires)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if taken:
            return expires
    try:
        with session_scope() as session:
            if session.get(JobLease, name) is not None:
                return None
            session.add(JobLease(name=name, holder=holder, expires_at=expires))
    except IntegrityError:  # another run inserted it first
        return None
    return expires


def take_over_lease(name: str, old_holder: str, holder: str, ttl: timedelta) -> bool:
    """Take the lease `name` from `old_holder` (known dead); False when it moved meanwhile."""
    with session_scope() as session:
        moved = session.execute(
            update(JobLease)
            .where(col(JobLease.name) == name, col(JobLease.holder) == old_holder)
            .values(holder=holder, expires_at=utcnow() + ttl)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    return bool(moved)


def release_lease(name: str, holder: str) -> None:
    """Give the lease back (only when `holder` has it)."""
    with session_scope() as session:
        session.execute(
            delete(JobLease).where(col(JobLease.name) == name, col(JobLease.holder) == holder)
        )


def lease_holder(name: str) -> tuple[str, datetime] | None:
    """(holder, expires_at) of the lease `name` while it holds, else None."""
    with session_scope() as session:
        lease = session.get(JobLease, name)
        if lease is None or lease.expires_at <= utcnow():
            return None
        return lease.holder, lease.expires_at
