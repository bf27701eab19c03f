"""The OpenAPI document describes the answers: schemathesis over every operation.

Each operation gets generated requests (valid and invalid) with an experiment token and
with an admin token; every answer must be a documented status with a documented body,
and none a 5xx. Bounded to `EXAMPLES` per operation and token.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from slices_bi.api.app import API_PREFIX, create_app
from slices_bi.auth import mint_experiment_token, mint_user_token
from slices_bi.settings import get_settings
from tests.api.conftest import ADMIN_ID, OfflineLauncher

EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# The document is read once at collection; the catalog the answers come from is the
# test database (the `catalog` fixture), as for every other API test.
schema = schemathesis.openapi.from_asgi(
    f"{API_PREFIX}/openapi.json", create_app(launcher=OfflineLauncher())
)


@pytest.fixture
def catalog(db, image, flavor):
    """An empty catalog but for one image and one flavor."""


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class TokenSlot:
    """Marks where the token goes: schemathesis builds cases at collection, before the test
    settings exist, and may leave the header out on purpose (a negative case)."""

    kind = "experiment"

    def get(self, case, context) -> str:
        return self.kind

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {SLOT}{data}"}


class AdminSlot(TokenSlot):
    kind = "admin"


SLOT = "token-slot:"


def _with_real_token(case) -> None:
    value = (case.headers or {}).get("Authorization", "")
    if value == f"Bearer {SLOT}experiment":
        token = mint_experiment_token(
            get_settings(), experiment_id="exp_contract_1", user_id="user_contract_1"
        )
    elif value == f"Bearer {SLOT}admin":
        token = mint_user_token(get_settings(), user_id=ADMIN_ID)
    else:
        return
    case.headers["Authorization"] = f"Bearer {token}"


@schema.auth.apply(TokenSlot)
@schema.parametrize()
@FUZZ
def test_answers_match_the_document_with_an_experiment_token(case, catalog):
    _with_real_token(case)
    case.call_and_validate(checks=CHECKS)


@schema.auth.apply(AdminSlot)
@schema.parametrize()
@FUZZ
def test_answers_match_the_document_with_an_admin_token(case, catalog):
    _with_real_token(case)
    case.call_and_validate(checks=CHECKS)
