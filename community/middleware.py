import zoneinfo

from django.utils import timezone


class MemberTimezoneMiddleware:
    """Show times in the member's own zone (Europe/London by default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = getattr(user, "timezone", None) if user and user.is_authenticated else None
        try:
            timezone.activate(
                zoneinfo.ZoneInfo(zone) if zone else zoneinfo.ZoneInfo("Europe/London")
            )
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("Europe/London"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
