"""GET /resources/{id}/receipt: the receipt of an active resource, for its experiment (or its
user) only; 404 like an unknown id otherwise, and `receipt_not_found` before it is active."""

from __future__ import annotations

from slices_bi.catalog.receipts import (
    Receipt,
    ReceiptFlavor,
    ReceiptImage,
    ReceiptNetwork,
    record_receipt,
)
from slices_bi.catalog.types import utcnow
from tests.api.conftest import bearer, request_body


def test_receipt_of_a_resource(client, tokens, image, flavor):
    task = client.post(
        "/resources", json=request_body(image, flavor, tokens), headers=bearer(tokens.experiment())
    ).json()
    [rid] = task["resource_ids"]
    url = f"/resources/{rid}/receipt"

    early = client.get(url, headers=bearer(tokens.experiment()))
    assert early.status_code == 404
    assert early.json()["error"] == "receipt_not_found"

    record_receipt(
        Receipt(
            resource_id=rid,
            experiment_id=tokens.experiment_id,
            friendly_name="vm1",
            server_id="0f3c1b6e-9d53-4b7c-8f0a-2b1e4c5d6a7b",
            image=ReceiptImage(catalog_id=image.id, checksum="d41d8cd98f00b204e9800998ecf8427e"),
            flavor=ReceiptFlavor(catalog_id=flavor.id, vcpus=1, ram_mib=2048, disk_gb=0),
            network=ReceiptNetwork(name="private"),
            user_data_sha256="ab" * 32,
            slices_bi_version="0.1.0",
            recorded_at=utcnow(),
        )
    )
    for token in (tokens.experiment(), tokens.user()):
        answer = client.get(url, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        assert answer.json()["image"]["checksum"] == "d41d8cd98f00b204e9800998ecf8427e"
        assert answer.json()["user_data_sha256"] == "ab" * 32

    unknown = client.get("/resources/res_tld-city-bp1_nope/receipt", headers=bearer(tokens.user()))
    for token in (tokens.experiment("exp_test_other"), tokens.user("user_test_other")):
        other = client.get(url, headers=bearer(token))
        assert other.status_code == 404
        assert other.json()["error"] == unknown.json()["error"] == "resource_not_found"
    assert client.get(url).status_code == 401
