"""Deployment and flow names, shared by the API (starts runs) and the worker (serves them).

No heavy imports here: the API imports this module, never the flows or openstacksdk.
"""

from __future__ import annotations

from typing import Final

from slices_bi.catalog.models import TaskKind

PROVISION_FLOW: Final = "provision-resources"
DELETE_FLOW: Final = "delete-resource"
REBOOT_FLOW: Final = "reboot-resource"
CATALOG_SYNC_FLOW: Final = "catalog-sync"
EXPIRY_CLEANUP_FLOW: Final = "expiry-cleanup"

# Each deployment carries its flow's name: "<flow>/<deployment>" is what the UI shows.
DEPLOYMENT_OF_KIND: Final[dict[TaskKind, str]] = {
    TaskKind.PROVISION: f"{PROVISION_FLOW}/{PROVISION_FLOW}",
    TaskKind.DELETE: f"{DELETE_FLOW}/{DELETE_FLOW}",
    TaskKind.REBOOT: f"{REBOOT_FLOW}/{REBOOT_FLOW}",
}
CATALOG_SYNC_DEPLOYMENT: Final = f"{CATALOG_SYNC_FLOW}/{CATALOG_SYNC_FLOW}"
EXPIRY_CLEANUP_DEPLOYMENT: Final = f"{EXPIRY_CLEANUP_FLOW}/{EXPIRY_CLEANUP_FLOW}"

# Seconds between the heartbeats of a flow run (Prefect's minimum); see deployments/zombies.
HEARTBEAT_SECONDS: Final = 30

# Global concurrency limit that caps OpenStack calls across every worker.
OPENSTACK_CONCURRENCY_LIMIT: Final = "slices-bi-openstack"
