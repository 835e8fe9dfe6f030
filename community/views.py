"""Thin views: parse the request, call a selector or service, render."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from community import notifications, selectors, services
from community.errors import Forbidden, NotFound, ServiceError
from community.forms import (
    MemberForm,
    MemberMuteForm,
    MemberUnmuteForm,
    MessageForm,
    OrganisationForm,
    RoomMuteForm,
)
from community.models import Room
from community.permissions import is_moderator


def home(request: HttpRequest) -> HttpResponse:
    rooms = (
        selectors.rooms_visible(member=request.user)[:8] if request.user.is_authenticated else []
    )
    return render(request, "community/home.html", {"rooms": rooms})


def _room_or_404(request: HttpRequest, room_id: int) -> Room:
    try:
        return selectors.room_get(member=request.user, room_id=room_id)
    except NotFound:
        raise Http404("No such room.") from None
    except Forbidden:
        raise Http404("No such room.") from None


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    rooms = list(selectors.rooms_visible(member=request.user))
    groups = [
        (label, [room for room in rooms if room.kind == kind])
        for kind, label in [
            (Room.Kind.CHALLENGE, "Challenges"),
            (Room.Kind.SECTOR, "Sectors"),
            (Room.Kind.ROUNDTABLE, "Round-tables"),
        ]
    ]
    return render(request, "community/room_list.html", {"groups": groups})


@login_required
def room_detail(
    request: HttpRequest, room_id: int, *, form: MessageForm | None = None, status: int = 200
) -> HttpResponse:
    room = _room_or_404(request, room_id)
    history = selectors.room_messages(room=room)
    state = selectors.room_state(room=room, member=request.user)
    last_read = selectors.room_last_read_seq(member=request.user, room=room)
    # A room never opened shows no divider: all of it is new, nothing to separate.
    first_unread = next((m.seq for m in history if m.seq > (last_read or 0)), None)
    context = {
        "room": room,
        "history": history,
        "first_unread_seq": first_unread if last_read is not None else None,
        "last_read_seq": last_read,  # the client moves the divider as older pages load
        "state": state,
        "form": form or MessageForm(initial={"client_id": uuid.uuid4()}),
        "mute_form": RoomMuteForm(),
        # Messages from other days show their date; the live client follows the same rule.
        "today": timezone.localdate().strftime("%Y%m%d"),
    }
    return render(request, "community/room_detail.html", context, status=status)


@login_required
@require_POST
def room_post(request: HttpRequest, room_id: int) -> HttpResponse:
    """The HTML-form path for a message (no JavaScript); same service and policy as the socket."""
    room = _room_or_404(request, room_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        # Say what was wrong: the composer shows no per-field errors (client_id is hidden).
        for name, errors in form.errors.items():
            label = {"body": "Message", "client_id": "Message id"}.get(name, name)
            messages.error(request, f"{label}: {' '.join(errors)}")
        return room_detail(request, room_id, form=form, status=400)
    client_id = form.cleaned_data["client_id"] or uuid.uuid4()
    try:
        services.message_post(
            member=request.user, room=room, body=form.cleaned_data["body"], client_id=str(client_id)
        )
    except ServiceError as error:
        messages.error(request, error.detail)
        return room_detail(request, room_id, form=form, status=error.status)
    return redirect("room_detail", room_id=room.pk)


def _moderation_run(request: HttpRequest, action, *, page, object_id: int, done: str = ""):
    """Run a moderator's action; then back to `page` (room_detail or member_detail, whose
    URL names are their own) with the outcome said, or the page again with the refusal."""
    try:
        action()
    except ServiceError as error:
        if error.status == 404:
            raise Http404(error.detail) from None
        messages.error(request, error.detail)
        return page(request, object_id, status=error.status)
    if done:
        messages.success(request, done)
    return redirect(page.__name__, object_id)


@login_required
@require_POST
def room_mute(request: HttpRequest, room_id: int) -> HttpResponse:
    form = RoomMuteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason of at most 300 characters and a valid end time.")
        return room_detail(request, room_id, status=400)
    return _moderation_run(
        request,
        lambda: services.room_mute(
            moderator=request.user,
            room_id=room_id,
            reason=form.cleaned_data["reason"],
            until=form.cleaned_data["until"],
        ),
        page=room_detail,
        object_id=room_id,
    )


@login_required
@require_POST
def room_unmute(request: HttpRequest, room_id: int) -> HttpResponse:
    return _moderation_run(
        request,
        lambda: services.room_unmute(moderator=request.user, room_id=room_id),
        page=room_detail,
        object_id=room_id,
    )


@login_required
def profile_edit(request: HttpRequest, new_token=None) -> HttpResponse:
    member = request.user
    posted = request.POST if request.method == "POST" and new_token is None else None
    member_form = MemberForm(posted, instance=member, prefix="member")
    organisation_form = OrganisationForm(
        posted, instance=member.organisation, prefix="organisation"
    )
    if posted is not None:
        if member_form.is_valid() and organisation_form.is_valid():
            services.member_profile_update(
                member=member,
                display_name=member_form.cleaned_data["display_name"],
                job_title=member_form.cleaned_data["job_title"],
            )
            services.organisation_save(member=member, fields=organisation_form.cleaned_data)
            messages.success(request, "Profile saved.")
            return redirect("profile_edit")
        status = 400
    else:
        status = 200
    return render(
        request,
        "community/profile_edit.html",
        {
            "member_form": member_form,
            "organisation_form": organisation_form,
            "tokens": member.api_tokens.filter(revoked__isnull=True),
            "new_token": new_token,
        },
        status=status,
    )


@login_required
def member_detail(
    request: HttpRequest, member_id: int, *, mute_form: MemberMuteForm | None = None, status=200
) -> HttpResponse:
    try:
        member = selectors.member_get(member_id=member_id)
    except NotFound:
        raise Http404("No such member.") from None
    context = {"profile": member}
    if is_moderator(request.user) and request.user.pk != member.pk:
        context["mutes"] = list(selectors.member_mutes_active(member_id=member.pk))
        context["mute_form"] = mute_form or MemberMuteForm()
    return render(request, "community/member_detail.html", context, status=status)


@login_required
@require_POST
def member_mute(request: HttpRequest, member_id: int) -> HttpResponse:
    form = MemberMuteForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            "Choose a room or everywhere, a reason of at most 300 characters and a valid end time.",
        )
        return member_detail(request, member_id, mute_form=form, status=400)
    room = form.cleaned_data["room"]
    return _moderation_run(
        request,
        lambda: services.member_mute(
            moderator=request.user,
            member_id=member_id,
            room_id=room.pk if room else None,
            until=form.cleaned_data["until"],
            reason=form.cleaned_data["reason"],
        ),
        page=member_detail,
        object_id=member_id,
        done=f"Muted {'in ' + room.name if room else 'everywhere'}.",
    )


@login_required
@require_POST
def member_unmute(request: HttpRequest, member_id: int) -> HttpResponse:
    form = MemberUnmuteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say which mute to lift.")
        return member_detail(request, member_id, status=400)
    return _moderation_run(
        request,
        lambda: services.member_unmute(
            moderator=request.user,
            member_id=member_id,
            scope=form.cleaned_data["scope"],
            room_id=form.cleaned_data["room_id"],
        ),
        page=member_detail,
        object_id=member_id,
        done="Mute lifted.",
    )


@login_required
def organisation_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        organisation = selectors.organisation_get(slug=slug)
    except NotFound:
        raise Http404("No such organisation.") from None
    members = organisation.members.filter(is_active=True).order_by("display_name")
    return render(
        request,
        "community/organisation_detail.html",
        {"organisation": organisation, "members": members},
    )


def _error(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def error_400(request, exception=None):
    return _error(request, 400, "Bad request", "We could not understand that request.")


def error_403(request, exception=None):
    return _error(request, 403, "Not allowed", "You are not allowed to do that.")


def error_404(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing at this address.")


def error_500(request):
    return _error(request, 500, "Something went wrong", "We have been told. Please try again.")


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        notifications.notifications_mark_read(member=request.user)
        return redirect("notification_list")
    items = list(notifications.notifications_recent(member=request.user))
    return render(request, "community/notification_list.html", {"items": items})


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    try:
        token, key = services.token_create(member=request.user, name=request.POST.get("name", ""))
    except ServiceError as error:
        messages.error(request, error.detail)
        return redirect("profile_edit")
    return profile_edit(request, new_token=(token, key))


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        services.token_revoke(member=request.user, token_id=token_id)
    except ServiceError as error:
        raise Http404(error.detail) from None
    messages.success(request, "Token revoked.")
    return redirect("profile_edit")
