"""Exceptions the client raises, split by what the caller can do about them.

`RetryableError`: the server was busy or unreachable (429, 502-504, connection failures); the client
already retried with backoff and gave up. Trying again later may work.
`NonRetryableError`: the request itself was refused (bad image, bad parameter, too large, wrong API
key) or the server failed on it (500). Sending the same request again will not help.
Both carry the server's error code (`invalid_image`, `queue_full`, ...) from its JSON error body.
"""

from __future__ import annotations

# Statuses that mean "busy or briefly unreachable, come back": the client retries these.
RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})


class BgRemoveError(Exception):
    """Any failure of a background-removal call.

    status:      HTTP status, or None when no response arrived (connection failure).
    code:        the server's error code, e.g. "queue_full"; "http_<status>" when the body had none.
    message:     human-readable explanation (the server's when it sent one).
    retry_after: seconds from the last response's Retry-After header, if any.
    attempts:    requests sent before giving up (1 when no retry happened).
    """

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{status or 'no response'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.attempts = attempts


class RetryableError(BgRemoveError):
    """Busy or unreachable server; retries ran out (or Retry-After exceeded the policy's max delay)."""


class ConnectionFailed(RetryableError):
    """No HTTP response at all: refused connection, timeout, dropped connection."""


class NonRetryableError(BgRemoveError):
    """The server refused or failed this request; repeating it unchanged will not help."""


def error_for_status(
    status: int, code: str, message: str, *, retry_after: float | None = None, attempts: int = 1
) -> BgRemoveError:
    cls = RetryableError if status in RETRYABLE_STATUSES else NonRetryableError
    return cls(status, code, message, retry_after=retry_after, attempts=attempts)
