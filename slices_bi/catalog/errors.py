"""Domain errors of the catalog; each carries the HTTP status and code the API answers with."""

from __future__ import annotations


class CatalogError(Exception):
    """Root of the expected business failures; never a 500."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(CatalogError):
    status_code = 404
    code = "not_found"


class Conflict(CatalogError):
    status_code = 409
    code = "conflict"


class Forbidden(CatalogError):
    status_code = 403
    code = "forbidden"


class Invalid(CatalogError):
    """A well-formed request whose content breaks a rule (unknown image, bad expiry...)."""

    status_code = 422
    code = "invalid_request"
