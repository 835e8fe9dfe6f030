"""Pages and HTML forms: rooms, posting without JavaScript, moderation, profiles, sign-up."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from community import services
from community.models import Member, MemberMute, Message, Organisation, Room

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(member, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(member)
        return client

    return make


def test_pages_need_sign_in(client, room):
    for url in [
        reverse("room_list"),
        reverse("room_detail", args=[room.pk]),
        reverse("profile_edit"),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_room_list_groups_rooms_with_constant_queries(
    client_for, member, make_room, sector, django_assert_num_queries
):
    make_room("Skills shortages")
    make_room("Keeping graduates")
    make_room(sector.name, kind=Room.Kind.SECTOR, sector=sector)
    client = client_for(member)
    # session, member, member's organisation (header), rooms with sector and challenge joined
    with django_assert_num_queries(4):
        response = client.get(reverse("room_list"))
    assert response.status_code == 200
    for _ in range(5):
        make_room()
    with django_assert_num_queries(4):
        response = client.get(reverse("room_list"))
    html = response.content.decode()
    assert "Challenges" in html and "Sectors" in html and "Keeping graduates" in html


def test_room_page_shows_history_with_constant_queries(
    client_for, member, other_member, room, django_assert_num_queries
):
    for n in range(3):
        services.message_post(
            member=other_member, room=room, body=f"**m{n}**", client_id=str(uuid.uuid4())
        )
    client = client_for(member)
    # session, member, room, messages+authors+organisations, own mute, read marker,
    # header organisation
    with django_assert_num_queries(7) as captured:
        response = client.get(reverse("room_detail", args=[room.pk]))
    for n in range(10):
        services.message_post(
            member=member, room=room, body=f"more {n}", client_id=str(uuid.uuid4())
        )
    with django_assert_num_queries(len(captured.captured_queries)):
        response = client.get(reverse("room_detail", args=[room.pk]))
    html = response.content.decode()
    assert "<strong>m0</strong>" in html and "more 9" in html
    assert 'data-last-seq="13"' in html


def test_unknown_room_is_404(client_for, member):
    assert client_for(member).get("/rooms/999999/").status_code == 404
    assert client_for(member).post("/rooms/999999/post/", {"body": "x"}).status_code == 404


def test_post_without_javascript(client_for, member, room):
    client = client_for(member)
    response = client.post(
        reverse("room_post", args=[room.pk]), {"body": "Hello from a form", "client_id": ""}
    )
    assert response.status_code == 302
    assert Message.objects.get().body == "Hello from a form"


def test_form_post_needs_csrf(client_for, member, room):
    response = client_for(member, csrf=True).post(
        reverse("room_post", args=[room.pk]), {"body": "forged"}
    )
    assert response.status_code == 403 and Message.objects.count() == 0


@pytest.mark.parametrize(("body", "status"), [("", 400), ("   ", 400), ("x" * 4001, 413)])
def test_form_post_refusals_keep_the_text(client_for, member, room, body, status):
    response = client_for(member).post(reverse("room_post", args=[room.pk]), {"body": body})
    assert response.status_code == status
    assert Message.objects.count() == 0
    if body.strip():
        assert body in response.content.decode()  # nothing typed is lost


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"body": "typed\x00text", "client_id": ""}, "Message: Null characters are not allowed."),
        ({"body": "kept text", "client_id": "not-a-uuid"}, "Message id: Enter a valid UUID."),
    ],
)
def test_form_post_with_malformed_fields_says_why(client_for, member, room, data, said):
    response = client_for(member).post(reverse("room_post", args=[room.pk]), data)
    assert response.status_code == 400 and Message.objects.count() == 0
    assert said in response.content.decode()


def test_muted_room_page_disables_input_and_form_post_is_refused(
    client_for, member, moderator, room
):
    mod = client_for(moderator)
    response = mod.post(reverse("room_mute", args=[room.pk]), {"reason": "Quiet please"})
    assert response.status_code == 302
    client = client_for(member)
    html = client.get(reverse("room_detail", args=[room.pk])).content.decode()
    assert "read-only" in html and "Quiet please" in html
    assert 'id="composer-body"' in html and "disabled" in html.split('id="composer-body"')[1][:400]
    response = client.post(reverse("room_post", args=[room.pk]), {"body": "let me in"})
    assert response.status_code == 403 and "let me in" in response.content.decode()
    assert Message.objects.count() == 0
    assert mod.post(reverse("room_unmute", args=[room.pk])).status_code == 302
    room.refresh_from_db()
    assert not room.is_muted


def test_members_cannot_mute_rooms(client_for, member, room):
    response = client_for(member).post(reverse("room_mute", args=[room.pk]), {"reason": "mine"})
    assert response.status_code == 403
    room.refresh_from_db()
    assert not room.is_muted


def test_profile_edit(client_for, member, sector):
    client = client_for(member)
    assert client.get(reverse("profile_edit")).status_code == 200
    response = client.post(
        reverse("profile_edit"),
        {
            "member-display_name": "Amira S.",
            "member-job_title": "Owner",
            "organisation-name": "Riverside Bakery",
            "organisation-sector": sector.pk,
            "organisation-size": "small",
            "organisation-town": "Market Town",
            "organisation-website": "https://bakery.example",
            "organisation-offers": "Catering",
            "organisation-seeks": "Bakers",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.display_name == "Amira S." and member.organisation.name == "Riverside Bakery"
    page = client.get(member.organisation.get_absolute_url()).content.decode()
    assert "Catering" in page and "Bakers" in page and "Amira S." in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("organisation-website", "javascript:alert(1)"),
        ("organisation-name", "   "),
        ("organisation-size", "gigantic"),
        ("organisation-offers", "x" * 2001),
        ("member-display_name", ""),
    ],
)
def test_profile_edit_refuses_bad_input(client_for, member, sector, field, value):
    data = {
        "member-display_name": "Amira",
        "member-job_title": "",
        "organisation-name": "Bakery",
        "organisation-sector": sector.pk,
        "organisation-size": "small",
        "organisation-town": "",
        "organisation-website": "",
        "organisation-offers": "",
        "organisation-seeks": "",
    }
    data[field] = value
    before = Organisation.objects.get(pk=member.organisation_id).name
    response = client_for(member).post(reverse("profile_edit"), data)
    assert response.status_code == 400
    assert Organisation.objects.get(pk=member.organisation_id).name == before


def test_sign_up_creates_member_with_organisation_then_sign_in_and_out(client, sector):
    response = client.post(
        reverse("account_signup"),
        {
            "display_name": "Priya Patel",
            "email": "priya@example.test",
            "organisation_name": "Patel Robotics",
            "sector": sector.pk,
            "size": "small",
            "town": "Northgate",
            "password1": "a-very-long-password-42",
            "password2": "a-very-long-password-42",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member = Member.objects.get(email="priya@example.test")
    assert member.display_name == "Priya Patel"
    assert member.organisation.name == "Patel Robotics" and member.organisation.sector == sector
    assert client.get(reverse("room_list")).status_code == 200  # signed in
    client.post(reverse("account_logout"))
    assert client.get(reverse("room_list")).status_code == 302
    response = client.post(
        reverse("account_login"),
        {"login": "priya@example.test", "password": "a-very-long-password-42"},
    )
    assert response.status_code == 302
    assert client.get(reverse("room_list")).status_code == 200


def test_password_reset_sends_an_email(client, member, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": member.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1 and member.email in mailoutbox[0].to
    assert "/accounts/password/reset/key/" in mailoutbox[0].body
    assert mailoutbox[0].body.startswith("Hello from Convene")
    assert mailoutbox[0].subject.startswith("[Convene] ")


def test_error_pages_are_friendly(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and b"Not found" in response.content


def test_oversized_form_post_is_413_and_stores_nothing(client_for, member, room):
    response = client_for(member).post(
        reverse("room_post", args=[room.pk]), {"body": "x" * 300_000}
    )
    assert response.status_code == 413 and b"too large" in response.content
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "url", ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
)
def test_public_pages_render(client, sector, url):
    response = client.get(url)
    assert response.status_code == 200
    assert b"Convene" in response.content


def test_signed_in_pages_render(client_for, member):
    client = client_for(member)
    for url in [
        "/",
        "/accounts/password/change/",
        "/accounts/email/",
        "/profile/",
        f"/members/{member.pk}/",
        member.organisation.get_absolute_url(),
    ]:
        assert client.get(url).status_code == 200, url


def test_moderator_mutes_and_lifts_a_member_from_their_page(
    client_for, member, moderator, room, make_room, django_assert_num_queries
):
    other_room = make_room("Net zero")
    page_url = reverse("member_detail", args=[member.pk])
    # Members see no moderation on others' pages, and cannot use the forms.
    assert (
        "member-moderation"
        not in client_for(member)
        .get(reverse("member_detail", args=[moderator.pk]))
        .content.decode()
    )
    forbidden = client_for(member).post(reverse("member_mute", args=[moderator.pk]), {})
    assert forbidden.status_code == 403 and not MemberMute.objects.exists()

    mod = client_for(moderator)
    response = mod.post(
        reverse("member_mute", args=[member.pk]),
        {"room": room.pk, "reason": "Off topic <b>again</b>", "until": "2099-01-01T09:30"},
    )
    assert response.status_code == 302
    mod.post(reverse("member_mute", args=[member.pk]), {"room": "", "reason": ""})
    mod.post(reverse("member_mute", args=[member.pk]), {"room": other_room.pk})
    with django_assert_num_queries(6):  # session, user, member, mutes with rooms, room choices
        html = mod.get(page_url).content.decode()
    assert "Muted everywhere" in html and f'in <a href="/rooms/{room.pk}/">' in html
    assert "Off topic &lt;b&gt;again&lt;/b&gt;" in html and "1 Jan 2099, 09:30" in html

    bad = mod.post(reverse("member_mute", args=[member.pk]), {"room": 999999})
    assert bad.status_code == 400 and MemberMute.objects.count() == 3
    bad = mod.post(reverse("member_unmute", args=[member.pk]), {"scope": "galaxy"})
    assert bad.status_code == 400 and not MemberMute.objects.filter(lifted__isnull=False).exists()

    lifted = mod.post(
        reverse("member_unmute", args=[member.pk]), {"scope": "room", "room_id": room.pk}
    )
    assert lifted.status_code == 302
    still = set(MemberMute.objects.filter(lifted__isnull=True).values_list("room_id", flat=True))
    assert still == {None, other_room.pk}
    mod.post(reverse("member_unmute", args=[member.pk]), {"scope": "site"})
    html = mod.get(page_url).content.decode()
    assert "Muted everywhere" not in html and "Net zero" in html
    assert mod.post(reverse("member_mute", args=[999999]), {}).status_code == 404
