"""The OpenAPI document: served at /docs and /redoc, with a bearer scheme and examples."""

from __future__ import annotations

from fastapi.testclient import TestClient

from slices_bi.api.app import API_PREFIX, DOCS_ASSETS_URL, create_app


def test_docs_pages_and_openapi_document(db, launcher):
    with TestClient(create_app(launcher=launcher)) as client:
        for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            html = client.get(page).text
            assert f'"{DOCS_ASSETS_URL}/{asset}"' in html
            assert "https://" not in html, f"{page} loads something from elsewhere"
            assert client.get(f"{DOCS_ASSETS_URL}/{asset}").status_code == 200
        spec = client.get(f"{API_PREFIX}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["SLICES token"]["scheme"] == "bearer"
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) == 16
    assert all(op.get("security") == [{"SLICES token": []}] for op in operations)
    assert all(
        op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorBody"
        )
        for op in operations
    )
    schemas = spec["components"]["schemas"]
    for body in ("ResourcesRequest", "ResourceExtension", "DiskImageCreate", "FlavorCreate"):
        assert schemas[body]["examples"], body
