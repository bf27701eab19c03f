"""The one error root of the OpenStack adapter, and the transient/final split the flows retry on.

openstacksdk and keystoneauth raise many exception types; the adapter functions in
`compute` and `network` translate them at the boundary with `translate()` (or the
`cloud_call()` context manager) into a `CloudError` that carries:

- `reason`: a CamelCase constant the catalog stores as the resource's `status_reason`;
- `message`: text a person can act on (Nova's own message is kept, e.g. the quota text);
- `ids`: the ids the error concerns (`resource_id`, `server_id`, `network`, ...);
- `transient`: whether trying the same call again later may succeed.

`is_transient(exc)` is the single predicate the Prefect `retry_condition_fn` of every
cloud task uses. Transient: HTTP 5xx other than 501, 429, connection failures and resets,
keystoneauth connect failures. Final: every 4xx (403 quota included), a server that went
to ERROR (`ResourceFailure`) and a server that did not become ACTIVE in time
(`ServerBuildTimeout`: waiting once more is not going to help the flow).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import requests
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from slices_bi.observability import counters

CLOUD_ERRORS: Final = "slices_bi_cloud_errors_total"  # counted by reason, where translated

# Reasons (stored in Resource.status_reason; keep them CamelCase and stable).
IMAGE_NOT_FOUND: Final = "ImageNotFound"
IMAGE_AMBIGUOUS: Final = "ImageAmbiguous"
FLAVOR_AMBIGUOUS: Final = "FlavorAmbiguous"
NOT_FOUND: Final = "NotFound"
FLAVOR_NOT_FOUND: Final = "FlavorNotFound"
NETWORK_NOT_FOUND: Final = "NetworkNotFound"
NETWORK_AMBIGUOUS: Final = "NetworkAmbiguous"
QUOTA_EXCEEDED: Final = "QuotaExceeded"
SERVER_ERROR: Final = "ServerError"
SERVER_BUILD_INTERRUPTED: Final = "ServerBuildInterrupted"
SERVER_BUILD_TIMEOUT: Final = "ServerBuildTimeout"
SERVER_DELETE_TIMEOUT: Final = "ServerDeleteTimeout"
SERVER_NOT_FOUND: Final = "ServerNotFound"
CLOUD_UNAVAILABLE: Final = "CloudUnavailable"
CLOUD_REJECTED: Final = "CloudRejected"
CLOUD_CONFIG: Final = "CloudConfigError"


class CloudError(Exception):
    """Root of every error the OpenStack adapter raises.

    Picklable (Prefect keeps task exceptions on their states), and free of user data:
    only ids and the cloud's own messages go into it.
    """

    default_reason: str = CLOUD_REJECTED
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status_code: int | None = None,
        **ids: str | None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.status_code = status_code
        self.ids: dict[str, str] = {k: v for k, v in ids.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.reason, self.status_code, self.ids))

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def _rebuild(
    cls: type[CloudError], message: str, reason: str, status_code: int | None, ids: dict[str, str]
) -> CloudError:
    return cls(message, reason=reason, status_code=status_code, **ids)


class TransientCloudError(CloudError):
    """The cloud could not answer now (5xx, 429, connection failure); retry later."""

    default_reason = CLOUD_UNAVAILABLE
    transient = True


class FinalCloudError(CloudError):
    """The cloud answered and the answer will not change by asking again."""


class NotFoundError(FinalCloudError):
    """A named thing (image, flavor, network, server) is not in the cloud."""

    default_reason = NOT_FOUND


class AmbiguousError(FinalCloudError):
    """Several things in the cloud carry the name that was asked for."""

    default_reason = "Ambiguous"


class QuotaExceededError(FinalCloudError):
    """The project's quota does not allow the request (Nova answers 403)."""

    default_reason = QUOTA_EXCEEDED


class ServerFailedError(FinalCloudError):
    """The server went to ERROR; `message` holds Nova's fault message.

    `retry_on_new_server`: the cloud lost the build on its side (no fault); a new server
    may well succeed, where asking the same server again never will.
    """

    default_reason = SERVER_ERROR

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status_code: int | None = None,
        retry_on_new_server: bool = False,
        **ids: str | None,
    ) -> None:
        super().__init__(message, reason=reason, status_code=status_code, **ids)
        self.retry_on_new_server = retry_on_new_server

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_failed,
            (self.message, self.reason, self.status_code, self.ids, self.retry_on_new_server),
        )


def _rebuild_failed(
    message: str, reason: str, status_code: int | None, ids: dict[str, str], retry: bool
) -> ServerFailedError:
    return ServerFailedError(
        message, reason=reason, status_code=status_code, retry_on_new_server=retry, **ids
    )


class ServerTimeoutError(FinalCloudError):
    """The server did not reach the wanted state in time (build or delete)."""

    default_reason = SERVER_BUILD_TIMEOUT


def _status_is_transient(status: int | None) -> bool:
    if status is None:
        return False
    return status == 429 or (500 <= status < 600 and status != 501)


def is_transient(exc: BaseException) -> bool:
    """True when calling the cloud again later may succeed (the Prefect retry predicate).

    Looks at `CloudError.transient`, HTTP status codes of SDK and keystoneauth errors,
    connection errors, and the `__cause__`/`__context__` chain for wrapped ones.
    `ResourceTimeout` (a wait that ran out) and `ResourceFailure` are final.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CloudError):
            return current.transient
        if isinstance(current, (sdk_exc.ResourceTimeout, sdk_exc.ResourceFailure)):
            return False
        if isinstance(current, sdk_exc.HttpException):
            return _status_is_transient(current.status_code)
        if isinstance(current, ksa_exc.HttpError):
            return _status_is_transient(current.http_status)
        if isinstance(
            current,
            (
                ksa_exc.ConnectionError,
                ksa_exc.RetriableConnectionFailure,
                requests.ConnectionError,
                requests.Timeout,
                ConnectionError,
                TimeoutError,
            ),
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _http_details(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, str) and details.strip():
        return details.strip()
    return str(exc)


def translate(exc: BaseException, **ids: str | None) -> CloudError:
    """The `CloudError` for an SDK/keystoneauth/network exception (returned, not raised).

    A `CloudError` is returned as is (with `ids` added where missing).
    """
    err = exc if isinstance(exc, CloudError) else _classify(exc)
    for key, value in ids.items():
        if value is not None:
            err.ids.setdefault(key, value)
    return err


def _classify(exc: BaseException) -> CloudError:
    if isinstance(exc, sdk_exc.ResourceFailure):
        return ServerFailedError(str(exc))
    if isinstance(exc, sdk_exc.ResourceTimeout):
        return ServerTimeoutError(str(exc))
    if isinstance(exc, sdk_exc.DuplicateResource):
        return AmbiguousError(str(exc))
    status: int | None = None
    if isinstance(exc, sdk_exc.HttpException):
        status = exc.status_code
    elif isinstance(exc, ksa_exc.HttpError):
        status = exc.http_status
    if is_transient(exc):
        text = _http_details(exc) if status is not None else type(exc).__name__
        return TransientCloudError(
            f"the cloud did not answer ({status or 'no response'}): {text}", status_code=status
        )
    details = _http_details(exc)
    if status == 404:
        return NotFoundError(details, status_code=status)
    if status in (403, 409, 413) and "quota" in details.lower():
        return QuotaExceededError(details, status_code=status)
    if isinstance(exc, (sdk_exc.ConfigException, ksa_exc.MissingRequiredOptions)):
        return FinalCloudError(f"cloud configuration: {exc}", reason=CLOUD_CONFIG)
    if status is not None:
        return FinalCloudError(
            f"the cloud refused the request ({status}): {details}", status_code=status
        )
    return FinalCloudError(f"{type(exc).__name__}: {exc}")


@contextmanager
def cloud_call(**ids: str | None) -> Iterator[None]:
    """Translate every exception raised inside into a `CloudError` carrying `ids`."""
    try:
        yield
    except CloudError as exc:
        translate(exc, **ids)
        raise
    except (
        sdk_exc.SDKException,
        ksa_exc.ClientException,
        requests.RequestException,
        OSError,
    ) as exc:
        error = translate(exc, **ids)
        counters.inc(CLOUD_ERRORS, {"reason": error.reason})
        raise error from exc
