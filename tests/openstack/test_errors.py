"""The transient/final split and the translation of SDK errors (real SDK exception objects)."""

from __future__ import annotations

import json
import pickle

import pytest
import requests
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from slices_bi.openstack import errors


def sdk_error(status: int, message: str = "boom") -> sdk_exc.SDKException:
    """The exception openstacksdk raises for an HTTP answer `status` with a Nova-style body."""
    response = requests.Response()
    response.status_code = status
    response.headers["content-type"] = "application/json"
    response._content = json.dumps({"error": {"message": message, "code": status}}).encode()
    with pytest.raises(sdk_exc.SDKException) as info:
        sdk_exc.raise_from_response(response)
    return info.value


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_and_429_are_transient(status: int) -> None:
    exc = sdk_error(status)
    assert errors.is_transient(exc)
    translated = errors.translate(exc, server_id="s1")
    assert isinstance(translated, errors.TransientCloudError)
    assert translated.reason == errors.CLOUD_UNAVAILABLE
    assert translated.ids == {"server_id": "s1"}
    assert errors.is_transient(translated)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_4xx_and_501_are_final(status: int) -> None:
    exc = sdk_error(status)
    assert not errors.is_transient(exc)
    assert not errors.translate(exc).transient


def test_quota_403_keeps_novas_message() -> None:
    text = "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
    translated = errors.translate(sdk_error(403, text), resource_id="res_x")
    assert isinstance(translated, errors.QuotaExceededError)
    assert translated.reason == errors.QUOTA_EXCEEDED
    assert translated.message == text
    assert not errors.is_transient(translated)


def test_connection_failures_are_transient() -> None:
    assert errors.is_transient(ksa_exc.ConnectFailure("refused"))
    assert errors.is_transient(ksa_exc.ConnectTimeout("slow"))
    assert errors.is_transient(requests.ConnectionError("reset"))
    assert errors.is_transient(ConnectionResetError())
    assert errors.is_transient(ksa_exc.ServiceUnavailable())
    assert not errors.is_transient(ksa_exc.Unauthorized())
    translated = errors.translate(ksa_exc.ConnectFailure("refused"))
    assert translated.transient
    assert translated.reason == errors.CLOUD_UNAVAILABLE


def test_wrapped_transient_cause_is_found() -> None:
    inner = ksa_exc.ConnectFailure("refused")
    outer = sdk_exc.SDKException("endpoint discovery failed")
    outer.__cause__ = inner
    assert errors.is_transient(outer)
    assert errors.translate(outer).transient


def test_wait_outcomes_are_final() -> None:
    assert not errors.is_transient(sdk_exc.ResourceTimeout("waited"))
    assert not errors.is_transient(sdk_exc.ResourceFailure("ERROR"))
    assert errors.translate(sdk_exc.ResourceTimeout("t")).reason == errors.SERVER_BUILD_TIMEOUT
    assert errors.translate(sdk_exc.ResourceFailure("f")).reason == errors.SERVER_ERROR
    assert not errors.is_transient(ValueError("bug"))


def test_cloud_call_translates_and_keeps_ids() -> None:
    with pytest.raises(errors.CloudError) as info, errors.cloud_call(server_id="abc"):
        raise sdk_error(404, "Instance abc could not be found.")
    assert isinstance(info.value, errors.NotFoundError)
    assert info.value.ids == {"server_id": "abc"}
    assert info.value.message == "Instance abc could not be found."


def test_errors_survive_pickling() -> None:
    original = errors.ServerFailedError("went to ERROR: no host", server_id="s1")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is errors.ServerFailedError
    assert (copy.reason, copy.message, copy.ids) == (
        errors.SERVER_ERROR,
        original.message,
        {"server_id": "s1"},
    )
    assert str(copy) == "ServerError: went to ERROR: no host"
