"""JSON API v1 root: one NinjaAPI, one error shape for every refusal.

Errors are {"code", "detail", "fields"?} with the HTTP status; validation errors
are 400 (not django-ninja's default 422).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from community.api import router as community_router
from community.errors import ServiceError
from community.services import token_authenticate
from qa.api import router as qa_router

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer cvn_...`: a personal token from the profile page (no CSRF)."""

    def authenticate(self, request: HttpRequest, token: str):
        member = token_authenticate(key=token)
        if member is not None:
            request.user = member
        return member


class SessionCookieAuth(SessionAuth):
    """The session cookie, with its CSRF check only when a session cookie is sent: a
    request with no cookie (a script with a mistyped token, say) is told it is not signed
    in (401), not that its CSRF token failed."""

    def _get_key(self, request: HttpRequest):
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)


api = NinjaAPI(
    title="Convene API",
    version="1",
    description=(
        "Rooms, messages, moderation and Q&A. Authenticate with a personal token "
        "(`Authorization: Bearer ...`, from your profile page) or the session cookie "
        "(writes then need the CSRF token)."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=[TokenAuth(), SessionCookieAuth()],
)


def error_response(
    request: HttpRequest, *, status: int, code: str, detail: str, fields: dict | None = None
) -> HttpResponse:
    payload: dict = {"code": code, "detail": detail}
    if fields:
        payload["fields"] = fields
    return api.create_response(request, payload, status=status)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    response = error_response(
        request, status=exc.status, code=exc.code, detail=exc.detail, fields=exc.fields
    )
    if exc.status == 429:
        response["Retry-After"] = str(settings.CONVENE["RATE_LIMIT_WINDOW_SECONDS"])
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        fields[".".join(location) or "body"] = error.get("msg", "Invalid value.")
    return error_response(
        request, status=400, code="invalid", detail="Some fields are not valid.", fields=fields
    )


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        detail = "That API token is not valid (mistyped or revoked); make one on your profile page."
        challenge = 'Bearer realm="convene", error="invalid_token"'
    else:
        detail = "Sign in first, or send a personal API token: Authorization: Bearer cvn_..."
        challenge = 'Bearer realm="convene"'
    response = error_response(request, status=401, code="not_signed_in", detail=detail)
    response["WWW-Authenticate"] = challenge  # RFC 9110 / 6750: a 401 names its scheme
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "invalid", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
    detail = str(exc)
    if detail.startswith("Cannot parse request body"):
        detail = "The request body must be valid JSON."  # not the parser's own words
    return error_response(
        request, status=exc.status_code, code=code.get(exc.status_code, "error"), detail=detail
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404, code="not_found", detail="Not found.")


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, status=403, code="forbidden", detail="Not allowed.")


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, status=413, code="too_long", detail="The request is too large.")


@api.exception_handler(Exception)
def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path)
    return error_response(
        request, status=500, code="server_error", detail="Something went wrong on our side."
    )


api.add_router("/", community_router)
api.add_router("/", qa_router)


@csrf_exempt  # it changes nothing; a CSRF page would hide the JSON 404
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown /api/v1/ paths get the JSON error shape, not an HTML page."""
    return error_response(request, status=404, code="not_found", detail="No such API endpoint.")


class ApiMethodsMiddleware:
    """django-ninja answers a wrong method with an HTML 405; API clients get the JSON shape
    (and the Allow header) like every other refusal. HEAD is answered wherever GET is, as
    HTTP says: the GET's status and headers, no body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        response = self.get_response(request)
        if head:
            request.method = "HEAD"
        if response.status_code == 405:
            allowed = response.get("Allow", "")
            if "GET" in allowed.split(", "):
                allowed += ", HEAD"
            response = error_response(
                request,
                status=405,
                code="method_not_allowed",
                detail=f"{request.method} is not allowed here; use {allowed or 'another method'}.",
            )
            if allowed:
                response["Allow"] = allowed
        if head:
            response.content = b""
        return response
