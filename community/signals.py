"""Sign-out closes the member's open sockets for that session (close code 4401)."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from realtime.events import member_notify


@receiver(user_logged_out)
def close_sockets_of_session(sender, request, user, **kwargs):
    if user is None or request is None or not request.session.session_key:
        return
    member_notify(
        member_id=user.pk,
        message={"type": "member.session_ended", "session_key": request.session.session_key},
    )
