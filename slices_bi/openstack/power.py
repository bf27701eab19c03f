"""Rebooting a server (the SLICES CLI's `bi reset`)."""

from __future__ import annotations

from openstack.connection import Connection

from slices_bi.openstack import compute
from slices_bi.openstack.errors import cloud_call

REBOOTING = ("REBOOT", "HARD_REBOOT")


def reboot_server(conn: Connection, server_id: str, hard: bool) -> bool:
    """Ask Nova to reboot `server_id` (SOFT, or HARD); False when a reboot is already under
    way (a retried step does not reboot twice). Raises `NotFoundError` for a missing
    server, `FinalCloudError` when Nova refuses (409: not in a state to reboot)."""
    server = compute.get_server(conn, server_id)
    if (server.status or "").upper() in REBOOTING:
        return False
    with cloud_call(server_id=server_id):
        conn.compute.reboot_server(server_id, "HARD" if hard else "SOFT")
    return True
