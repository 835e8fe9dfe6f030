import zoneinfo

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

LONDON = zoneinfo.ZoneInfo("Europe/London")


class MemberTimezoneMiddleware:
    """Show times in the member's own zone (Europe/London by default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = getattr(user, "timezone", None) if user and user.is_authenticated else None
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone) if zone else LONDON)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(LONDON)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RequestTooLargeMiddleware:
    """Refuse a declared body over the upload limit with 413, before anything reads it.

    Without this, the CSRF middleware's read of request.POST turns it into a 400.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            detail = "The request is too large."
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "too_long", "detail": detail}, status=413)
            context = {"title": "Too large", "detail": detail + " Shorten it and try again."}
            return render(request, "error.html", context, status=413)
        return self.get_response(request)
