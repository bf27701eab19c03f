"""The OpenAPI document: served at /docs and /redoc, with a bearer scheme and examples."""

from __future__ import annotations

from fastapi.testclient import TestClient

from slices_bi.api.app import API_PREFIX, DOCS_ASSETS_URL, create_app
from tests.api.conftest import bearer


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
    assert len(operations) == 19  # 16 + reboot, events, receipt
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


def test_every_error_is_documented_as_the_error_body(db, launcher):
    with TestClient(create_app(launcher=launcher)) as client:
        spec = client.get(f"{API_PREFIX}/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            errors = {s: r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
            assert {"401", "422", "503"} <= set(errors), (method, path)
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(errors), (method, path)
            for status, answer in errors.items():
                schema = answer["content"]["application/json"]["schema"]
                assert schema["$ref"].endswith("/ErrorBody"), (method, path, status)
    flavor_update = spec["components"]["schemas"]["FlavorUpdate"]["properties"]
    assert flavor_update["description"]["type"] == "string"  # null is not allowed


def test_options_and_405_name_every_method_of_the_path(client):
    options = client.options("/resources")
    assert options.status_code == 204
    allowed = {m.strip() for m in options.headers["allow"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= allowed
    refused = client.put("/resources")
    assert refused.status_code == 405
    assert {m.strip() for m in refused.headers["allow"].split(",")} == allowed
    assert refused.json()["error"] == "method_not_allowed"
    item = client.options("/resources/res_x")
    assert {"GET", "PATCH", "DELETE", "OPTIONS"} <= set(item.headers["allow"].split(", "))


def test_unknown_query_parameters_are_refused(client, tokens):
    response = client.get("/resources?include_deletd=true", headers=bearer(tokens.experiment()))
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_query_parameter"
    assert "include_deletd" in response.json()["detail"]
    assert "include_deleted" in response.json()["detail"]
