"""The one exception the auth package raises for a token it refuses."""

from __future__ import annotations


class TokenError(Exception):
    """A bearer token that was missing, malformed, or refused.

    `status_code` is the HTTP status an API should answer with: 401 for a missing or
    invalid token, 403 for a valid token of the wrong kind (`token_kind`), 503 when the
    verification keys cannot be fetched (`token_keys_unavailable`). `code` is a short
    machine-readable reason (`token_expired`, `token_invalid`, ...), `detail` a message
    for humans. Neither ever contains the token itself.
    """

    def __init__(self, code: str, detail: str, status_code: int = 401) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status_code = status_code

    @property
    def headers(self) -> dict[str, str]:
        """Response headers for this error (RFC 6750 `WWW-Authenticate` on 401 and 403)."""
        if self.status_code == 401:
            return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if self.status_code == 403:
            return {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
        return {}

    def __repr__(self) -> str:
        return (
            f"TokenError(code={self.code!r}, status_code={self.status_code}, "
            f"detail={self.detail!r})"
        )
