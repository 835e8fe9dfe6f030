"""One error type for refused writes, shared by every path (HTML, JSON API, websocket)."""

from __future__ import annotations


class ServiceError(Exception):
    """A write was refused; nothing was stored. `code` is stable, `detail` is for people."""

    status = 400

    def __init__(self, code: str, detail: str, *, status: int | None = None, fields=None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.fields = fields or {}
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404

    def __init__(self, detail: str = "Not found."):
        super().__init__("not_found", detail)


class Forbidden(ServiceError):
    status = 403

    def __init__(self, detail: str = "You are not allowed to do that."):
        super().__init__("forbidden", detail)


class Conflict(ServiceError):
    status = 409


class PostingRefused(ServiceError):
    """The posting policy said no: muted, room muted, slow mode, rate limit, size."""

    STATUS_BY_CODE = {
        "not_signed_in": 401,
        "muted": 403,
        "room_muted": 403,
        "thread_locked": 403,
        "forbidden": 403,
        "slow_mode": 429,
        "rate_limited": 429,
        "too_long": 413,
        "empty": 400,
        "invalid": 400,
    }

    def __init__(self, code: str, detail: str):
        super().__init__(code, detail, status=self.STATUS_BY_CODE.get(code, 400))
