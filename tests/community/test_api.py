"""JSON API v1 for rooms and moderation: same services, same policy, one error shape."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings
from django.test import Client

from community.models import MemberMute, Message
from realtime.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_for():
    def make(member, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(member)
        return client

    return make


def post_json(client, url, payload, **extra):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(url, body, content_type="application/json", **extra)


def test_anonymous_gets_401_with_error_shape(client, room):
    response = client.get("/api/v1/rooms/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_signed_in"


def test_list_rooms_and_post_and_read_history(api_for, member, room):
    client = api_for(member)
    rooms = client.get("/api/v1/rooms/").json()
    assert [r["id"] for r in rooms["items"]] == [room.pk] and rooms["next"] is None
    client_id = str(uuid.uuid4())
    url = f"/api/v1/rooms/{room.pk}/messages/"
    created = post_json(client, url, {"client_id": client_id, "body": "via *API*"})
    assert created.status_code == 201
    data = created.json()
    assert data["seq"] == 1 and data["html"] == "<p>via <em>API</em></p>\n"
    again = post_json(client, url, {"client_id": client_id, "body": "via *API*"})
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Message.objects.count() == 1
    history = client.get(url).json()
    assert [m["id"] for m in history["items"]] == [data["id"]]


def test_history_keyset_pages_have_no_repeats_or_gaps(api_for, member, room):
    client = api_for(member)
    url = f"/api/v1/rooms/{room.pk}/messages/"
    for n in range(7):
        post_json(client, url, {"client_id": str(uuid.uuid4()), "body": f"m{n}"})
    seen, cursor = [], None
    while True:
        page = client.get(url + "?limit=3" + (f"&cursor={cursor}" if cursor else "")).json()
        seen = [m["seq"] for m in page["items"]] + seen
        if not page["next"]:
            break
        cursor = page["next"]
    assert seen == list(range(1, 8))
    assert client.get(url + "?cursor=sideways.3").status_code == 400
    assert client.get(url + "?after=-1").status_code == 400
    forward = client.get(url + "?after=5&limit=10").json()
    assert [m["seq"] for m in forward["items"]] == [6, 7]
    # A cursor says where the page starts; after/before beside it would be ignored.
    both = client.get(url + "?after=1&cursor=before.5")
    assert both.status_code == 400 and both.json()["fields"].keys() == {"cursor"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/v1/rooms/", "GET, HEAD"),
        ("delete", "/api/v1/rooms/{room}/messages/", "GET, POST, HEAD"),
        ("get", "/api/v1/rooms/{room}/unmute/", "POST"),
    ],
)
def test_wrong_method_gets_json_405_with_allow(api_for, member, room, method, path, allowed):
    response = getattr(api_for(member), method)(path.format(room=room.pk))
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "method_not_allowed"
    assert set(response["Allow"].split(", ")) == set(allowed.split(", "))


def test_session_writes_need_csrf(api_for, member, room):
    client = api_for(member, csrf=True)
    response = post_json(
        client, f"/api/v1/rooms/{room.pk}/messages/", {"client_id": str(uuid.uuid4()), "body": "x"}
    )
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("headers", "said"),
    [({}, "Sign in first"), ({"HTTP_AUTHORIZATION": "Bearer cvn_nope"}, "token is not valid")],
)
def test_writes_without_credentials_are_401_not_csrf(room, headers, said):
    client = Client(enforce_csrf_checks=True)
    payload = {"client_id": str(uuid.uuid4()), "body": "x"}
    response = post_json(client, f"/api/v1/rooms/{room.pk}/messages/", payload, **headers)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_signed_in" and said in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert Message.objects.count() == 0


def test_head_is_answered_wherever_get_is(api_for, member, room):
    client = api_for(member)
    get = client.get(f"/api/v1/rooms/{room.pk}/messages/")
    head = client.head(f"/api/v1/rooms/{room.pk}/messages/")
    assert head.status_code == get.status_code == 200
    assert head["Content-Type"] == get["Content-Type"] and head.content == b""
    assert Client().head("/api/v1/rooms/").status_code == 401


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ("{not json", 400, "invalid"),
        ("[]", 400, "invalid"),
        ({"body": "no client id"}, 400, "invalid"),
        ({"client_id": "nope", "body": "x"}, 400, "invalid"),
        # Only the form the server echoes, so string matching on the client always works.
        ({"client_id": "6F1C1F5E-6A53-4E0E-9C59-6A4A3F1D2F10", "body": "x"}, 400, "invalid"),
        ({"client_id": "{" + str(uuid.UUID(int=6)) + "}", "body": "x"}, 400, "invalid"),
        ({"client_id": uuid.UUID(int=7).hex, "body": "x"}, 400, "invalid"),
        ({"client_id": "urn:uuid:" + str(uuid.UUID(int=8)), "body": "x"}, 400, "invalid"),
        ({"client_id": str(uuid.UUID(int=1)), "body": 5}, 400, "invalid"),
        ({"client_id": str(uuid.UUID(int=2)), "body": ["x"]}, 400, "invalid"),
        ({"client_id": str(uuid.UUID(int=3)), "body": ""}, 400, "empty"),
        ({"client_id": str(uuid.UUID(int=4)), "body": " \u200b "}, 400, "empty"),
        ({"client_id": str(uuid.UUID(int=5)), "body": "x" * 4001}, 413, "too_long"),
    ],
)
def test_bad_message_posts(api_for, member, room, payload, status, code):
    response = post_json(api_for(member), f"/api/v1/rooms/{room.pk}/messages/", payload)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    assert Message.objects.count() == 0 and Event.objects.count() == 0


def test_oversized_request_is_413(api_for, member, room):
    payload = {"client_id": str(uuid.uuid4()), "body": "x" * 400_000}
    response = post_json(api_for(member), f"/api/v1/rooms/{room.pk}/messages/", payload)
    assert response.status_code == 413 and response.json()["code"] == "too_long"


def test_unknown_room_is_404(api_for, member):
    client = api_for(member)
    assert client.get("/api/v1/rooms/424242/messages/").json()["code"] == "not_found"
    response = post_json(
        client, "/api/v1/rooms/424242/messages/", {"client_id": str(uuid.uuid4()), "body": "x"}
    )
    assert response.status_code == 404


def test_room_mute_via_api_refuses_every_write_path(api_for, member, moderator, room):
    assert post_json(api_for(member), f"/api/v1/rooms/{room.pk}/mute/", {}).status_code == 403
    response = post_json(api_for(moderator), f"/api/v1/rooms/{room.pk}/mute/", {"reason": "AGM"})
    assert response.status_code == 200 and response.json()["muted"] is True
    refused = post_json(
        api_for(member),
        f"/api/v1/rooms/{room.pk}/messages/",
        {"client_id": str(uuid.uuid4()), "body": "hello?"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "room_muted"
    assert (
        post_json(api_for(moderator), f"/api/v1/rooms/{room.pk}/unmute/", {}).json()["muted"]
        is False
    )


def test_member_mute_via_api(api_for, member, moderator, room):
    url = f"/api/v1/members/{member.pk}/mute/"
    assert post_json(api_for(moderator), url, {"scope": "galaxy"}).status_code == 400
    assert post_json(api_for(moderator), url, {"scope": "room"}).status_code == 400
    assert post_json(api_for(moderator), "/api/v1/members/999999/mute/", {}).status_code == 404
    assert post_json(api_for(moderator), url, {"reason": "spam"}).status_code == 200
    refused = post_json(
        api_for(member),
        f"/api/v1/rooms/{room.pk}/messages/",
        {"client_id": str(uuid.uuid4()), "body": "hello?"},
    )
    assert refused.json()["code"] == "muted"
    assert (
        post_json(api_for(moderator), f"/api/v1/members/{member.pk}/unmute/", {}).status_code == 200
    )


def test_member_unmute_lifts_only_the_scope_asked_for(api_for, member, moderator, room, make_room):
    other_room = make_room("Net zero")
    moderator_api = api_for(moderator)
    mute_url = f"/api/v1/members/{member.pk}/mute/"
    unmute_url = f"/api/v1/members/{member.pk}/unmute/"
    post_json(moderator_api, mute_url, {"scope": "room", "room_id": room.pk, "reason": "a"})
    post_json(moderator_api, mute_url, {"scope": "room", "room_id": other_room.pk})
    post_json(moderator_api, mute_url, {"scope": "site"})

    def active() -> set:
        return set(
            MemberMute.objects.filter(member=member, lifted__isnull=True).values_list(
                "room_id", flat=True
            )
        )

    assert active() == {room.pk, other_room.pk, None}
    # Bad scopes change nothing.
    for payload, status in [
        ({"scope": "room"}, 400),
        ({"scope": "room", "room_id": 999999}, 404),
        ({"scope": "planet"}, 400),
        ({"scope": 7}, 400),
    ]:
        response = post_json(moderator_api, unmute_url, payload)
        assert response.status_code == status, (payload, response.content)
        assert response.json()["code"] in {"invalid", "not_found"}
    assert post_json(moderator_api, "/api/v1/members/999999/unmute/", {}).status_code == 404
    assert post_json(api_for(member), unmute_url, {}).status_code == 403
    assert active() == {room.pk, other_room.pk, None}

    lifted = post_json(moderator_api, unmute_url, {"scope": "site"}).json()
    assert lifted == {"ok": True, "lifted": 1} and active() == {room.pk, other_room.pk}
    lifted = post_json(moderator_api, unmute_url, {"scope": "room", "room_id": room.pk}).json()
    assert lifted["lifted"] == 1 and active() == {other_room.pk}
    assert post_json(moderator_api, unmute_url, {}).json()["lifted"] == 1 and active() == set()


@pytest.mark.parametrize("reason", ["evil\u202etxt.exe", "line\x07bell", "two\nlines"])
def test_mute_reasons_with_control_or_bidi_characters_are_refused(
    api_for, member, moderator, room, reason
):
    moderator_api = api_for(moderator)
    for url, payload in [
        (f"/api/v1/members/{member.pk}/mute/", {"reason": reason}),
        (f"/api/v1/rooms/{room.pk}/mute/", {"reason": reason}),
    ]:
        response = post_json(moderator_api, url, payload)
        assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not MemberMute.objects.exists()
    room.refresh_from_db()
    assert not room.muted_now()


def test_openapi_schema_is_served(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/rooms/{room_id}/messages/" in schema["paths"]


def test_unknown_api_paths_get_json_404(api_for, member):
    response = api_for(member).get("/api/v1/no/such/thing/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_rate_limited_api_says_when_to_retry(api_for, member, room, settings):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1}
    client = api_for(member)
    url = f"/api/v1/rooms/{room.pk}/messages/"
    assert post_json(client, url, {"client_id": str(uuid.uuid4()), "body": "a"}).status_code == 201
    refused = post_json(client, url, {"client_id": str(uuid.uuid4()), "body": "b"})
    assert refused.status_code == 429 and refused["Retry-After"] == "10"


def test_form_encoded_body_gets_a_plain_explanation(api_for, member, room):
    response = api_for(member).post(
        f"/api/v1/rooms/{room.pk}/messages/", "body=hi", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request body must be valid JSON."


def test_api_docs_load_nothing_from_other_sites(api_for, member):
    import re

    from django.contrib.staticfiles import finders

    html = api_for(member).get("/api/v1/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:  # each served by us, from the installed package's static files
        assert asset.startswith(settings.STATIC_URL), asset
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
