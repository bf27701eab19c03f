"""The receipt of a resource that became active (see `slices_bi.catalog.receipts`): written
by record-addresses, published as a Prefect artifact of the provision run."""

from __future__ import annotations

import hashlib
import json

from openstack.connection import Connection
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from slices_bi import __version__
from slices_bi.catalog import flow_queries, receipts
from slices_bi.catalog.receipts import Receipt, ReceiptFlavor, ReceiptImage, ReceiptNetwork
from slices_bi.catalog.types import utcnow
from slices_bi.flows import journal
from slices_bi.openstack import facts, lookups
from slices_bi.openstack.errors import CloudError


def payload_sha256(payload: str | None) -> str | None:
    """The SHA-256 (hex) of the cloud-init payload as sent (UTF-8), None without one."""
    if payload is None:
        return None
    return hashlib.sha256(payload.encode()).hexdigest()


def build(
    conn: Connection, view: flow_queries.ResourceView, server_id: str, network_id: str
) -> Receipt:
    """The receipt of `view`'s resource; what the cloud cannot tell now is left out and named
    in `problems` (an active resource never fails for its receipt)."""
    source = flow_queries.get_boot_source(view.id)
    image = ReceiptImage(catalog_id=view.disk_image_id)
    flavor = ReceiptFlavor(catalog_id=view.flavor_id)
    network = ReceiptNetwork(openstack_id=network_id)
    problems: list[str] = []
    try:
        if source is not None and source.image_location:
            image_id = lookups.image_id(
                conn, source.image_location, label=source.image_label, catalog_id=view.disk_image_id
            )
            image = ReceiptImage(catalog_id=view.disk_image_id, **facts.image_facts(conn, image_id))
    except CloudError as exc:
        problems.append(f"image: {exc}")
    try:
        if source is not None and source.flavor_location:
            flavor_id = lookups.flavor_id(
                conn, source.flavor_location, label=source.flavor_label, catalog_id=view.flavor_id
            )
            flavor = ReceiptFlavor(catalog_id=view.flavor_id, **facts.flavor_facts(conn, flavor_id))
    except CloudError as exc:
        problems.append(f"flavor: {exc}")
    try:
        network = ReceiptNetwork(**facts.network_facts(conn, network_id))
    except CloudError as exc:
        problems.append(f"network: {exc}")
    return Receipt.model_validate(
        {
            "resource_id": view.id,
            "experiment_id": view.experiment_id,
            "friendly_name": view.friendly_name,
            "server_id": server_id,
            "image": image,
            "flavor": flavor,
            "network": network,
            "user_data_sha256": receipts.user_data_hash(resource_id=view.id),
            "steps": journal.steps_of(view.id),
            "problems": problems,
            "slices_bi_version": __version__,
            "recorded_at": utcnow(),
        }
    )


def record(
    conn: Connection, view: flow_queries.ResourceView, server_id: str, network_id: str
) -> Receipt | None:
    """Build and store the receipt of an active resource; None when that failed (logged:
    the resource stays active, its receipt is what is missing)."""
    try:
        receipt = build(conn, view, server_id, network_id)
        receipts.record_receipt(receipt)
    except Exception:
        get_run_logger().warning("no receipt for %s", view.id, exc_info=True)
        return None
    journal.forget(view.id)
    if receipt.problems:
        get_run_logger().warning("receipt of %s incomplete: %s", view.id, receipt.problems)
    return receipt


def publish(made: list[Receipt]) -> None:
    """One Markdown artifact of the run with the receipts it wrote (never raises)."""
    if not made:
        return
    parts = ["# Receipts", ""]
    for receipt in made:
        body = json.dumps(receipt.model_dump(mode="json"), indent=2, sort_keys=True)
        parts += [
            f"## {receipt.friendly_name} ({receipt.resource_id})",
            "",
            "```json",
            body,
            "```",
            "",
        ]
    try:
        create_markdown_artifact(
            markdown="\n".join(parts),
            description="What each resource was made of (image, flavor, network, payload "
            "hash, request ids)",
        )
    except Exception:  # the receipts are stored; only their copy in the UI is missing
        get_run_logger().warning("receipt artifact not written", exc_info=True)
