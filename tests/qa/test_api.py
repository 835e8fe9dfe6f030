"""The Q&A JSON API: status codes, one error shape, strict types, CSRF on session writes."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from qa.models import Answer, Question, Vote

pytestmark = pytest.mark.django_db

API = "/api/v1"


class Api:
    """A session client that sends CSRF the way a browser page does."""

    def __init__(self, member=None, *, csrf: bool = True):
        self.client = Client(enforce_csrf_checks=True)
        self.token = _get_new_csrf_string()
        self.client.cookies[settings.CSRF_COOKIE_NAME] = self.token
        self.csrf = csrf
        if member is not None:
            self.client.force_login(member)

    def get(self, path: str, **params):
        return self.client.get(API + path, params)

    def post(self, path: str, data=None, *, raw: str | None = None):
        headers = {"X-CSRFToken": self.token} if self.csrf else {}
        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(API + path, body, content_type="application/json", headers=headers)


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"code", "detail", "fields"}
    return body


def _stored():
    return Question.objects.count(), Answer.objects.count(), Vote.objects.count()


def test_ask_answer_vote_accept_flow(member, other_member):
    asker, answerer = Api(member), Api(other_member)
    response = asker.post(
        "/questions/", {"title": "Grants?", "body": "Who *funds* it?", "tags": ["funding"]}
    )
    assert response.status_code == 201, response.content
    question = response.json()
    assert question["html"] == "<p>Who <em>funds</em> it?</p>\n"
    assert question["author"]["name"] == member.name
    assert question["tags"] == [{"slug": "funding", "name": "funding", "sector": False}]
    qid = question["id"]

    response = answerer.post(f"/questions/{qid}/answers/", {"body": "The county fund."})
    assert response.status_code == 201
    aid = response.json()["id"]

    response = answerer.post(f"/questions/{qid}/vote/", {"value": 1})
    assert response.json() == {
        "target": "question", "id": qid, "question_id": qid, "value": 1, "score": 1
    }  # fmt: skip
    assert asker.post(f"/answers/{aid}/vote/", {"value": -1}).json()["score"] == -1
    assert asker.post(f"/answers/{aid}/vote/", {"value": 0}).json()["score"] == 0

    response = asker.post(f"/questions/{qid}/accept/", {"answer_id": aid})
    assert response.status_code == 200
    assert response.json()["accepted_answer_id"] == aid
    assert response.json()["answers"][0]["accepted"] is True
    response = asker.post(f"/questions/{qid}/accept/", {"answer_id": None})
    assert response.json()["accepted_answer_id"] is None

    detail = Api().get(f"/questions/{qid}/")
    assert detail.status_code == 200
    assert detail.json()["answer_count"] == 1
    assert detail.json()["my_vote"] == 0
    assert Api(other_member).get(f"/questions/{qid}/").json()["my_vote"] == 1


def test_list_is_public_and_keyset_paginated(make_question):
    for n in range(5):
        make_question(title=f"q{n}")
    anonymous = Api()
    first = anonymous.get("/questions/", limit=2)
    assert first.status_code == 200
    seen, body = [], first.json()
    while True:
        seen += [item["title"] for item in body["items"]]
        if body["next"] is None:
            break
        body = anonymous.get("/questions/", limit=2, cursor=body["next"]).json()
    assert seen == ["q4", "q3", "q2", "q1", "q0"]
    _error(anonymous.get("/questions/", sort="random"), 400, "invalid")
    _error(anonymous.get("/questions/", limit=0), 400, "invalid")
    _error(anonymous.get("/questions/", cursor="nonsense"), 400, "invalid")
    assert anonymous.get("/questions/", q="q3").json()["items"][0]["title"] == "q3"


def test_unknown_ids_are_404(member):
    api = Api(member)
    _error(api.get("/questions/999999/"), 404, "not_found")
    _error(api.post("/questions/999999/answers/", {"body": "hi"}), 404, "not_found")
    _error(api.post("/questions/999999/vote/", {"value": 1}), 404, "not_found")
    _error(api.post("/answers/999999/vote/", {"value": 1}), 404, "not_found")
    _error(api.post("/questions/999999/accept/", {"answer_id": None}), 404, "not_found")
    assert _stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"title": "", "body": "b", "tags": ["t"]}, 400, "empty"),
        ({"title": "   ", "body": "b", "tags": ["t"]}, 400, "empty"),
        ({"title": "t", "body": " \n ", "tags": ["t"]}, 400, "empty"),
        ({"title": "t" * 201, "body": "b", "tags": ["t"]}, 413, "too_long"),
        ({"title": "t", "body": "b" * 30001, "tags": ["t"]}, 413, "too_long"),
        ({"title": "t", "body": "b", "tags": ["has space"]}, 400, "invalid"),
        ({"title": "t", "body": "b", "tags": []}, 400, "invalid"),
        ({"title": 5, "body": "b", "tags": ["t"]}, 400, "invalid"),
        ({"title": "t", "body": ["b"], "tags": ["t"]}, 400, "invalid"),
        ({"title": "t", "body": "b", "tags": "t"}, 400, "invalid"),
        ({"title": "t", "body": "b", "tags": [1]}, 400, "invalid"),
        ({"title": "t", "body": "b"}, 400, "invalid"),
        ({"title": "t", "body": "b", "tags": ["t"], "extra": 1}, 400, "invalid"),
    ],
)
def test_bad_questions_are_refused(member, payload, status, code):
    body = _error(Api(member).post("/questions/", payload), status, code)
    if code == "invalid":
        assert body["fields"]
    assert _stored() == (0, 0, 0)


def test_malformed_json_is_400(member):
    _error(Api(member).post("/questions/", raw="{not json"), 400, "invalid")
    assert _stored() == (0, 0, 0)


@pytest.mark.parametrize("value", [2, -2, "1", None, True, 1.0, "up"])
def test_bad_vote_values_are_400(question, other_member, value):
    body = _error(Api(other_member).post(f"/questions/{question.pk}/vote/", {"value": value}),
                  400, "invalid")  # fmt: skip
    assert "value" in body["fields"]
    assert not Vote.objects.exists()


def test_self_vote_is_403(question, member):
    _error(Api(member).post(f"/questions/{question.pk}/vote/", {"value": 1}), 403, "forbidden")
    assert not Vote.objects.exists()


def test_accept_rules(question, make_question, make_answer, other_member, member):
    answer = make_answer(question)
    other_question = make_question(title="Other")
    foreign = make_answer(other_question)
    _error(
        Api(other_member).post(f"/questions/{question.pk}/accept/", {"answer_id": answer.pk}),
        403,
        "forbidden",
    )
    body = _error(
        Api(member).post(f"/questions/{question.pk}/accept/", {"answer_id": foreign.pk}),
        400,
        "invalid",
    )
    assert "answer_id" in body["fields"]
    _error(Api(member).post(f"/questions/{question.pk}/accept/", {}), 400, "invalid")
    _error(
        Api(member).post(f"/questions/{question.pk}/accept/", {"answer_id": str(answer.pk)}),
        400,
        "invalid",
    )
    question.refresh_from_db()
    assert question.accepted_answer is None


def test_answers_refused_cleanly(question, other_member):
    api = Api(other_member)
    _error(api.post(f"/questions/{question.pk}/answers/", {"body": ""}), 400, "empty")
    _error(api.post(f"/questions/{question.pk}/answers/", {"body": "x" * 30001}), 413, "too_long")
    _error(api.post(f"/questions/{question.pk}/answers/", {"body": 7}), 400, "invalid")
    assert not Answer.objects.exists()


def test_moderation_endpoints(question, make_answer, member, other_member, moderator):
    answer = make_answer(question)
    _error(Api(member).post(f"/questions/{question.pk}/mute/"), 403, "forbidden")
    mod = Api(moderator)
    response = mod.post(f"/questions/{question.pk}/mute/", {"reason": "Cooling off"})
    assert response.status_code == 200 and response.json()["locked"] is True
    _error(
        Api(other_member).post(f"/questions/{question.pk}/answers/", {"body": "hi"}),
        403,
        "thread_locked",
    )
    assert mod.post(f"/questions/{question.pk}/unmute/").json()["locked"] is False

    _error(Api(member).post(f"/answers/{answer.pk}/hide/"), 403, "forbidden")
    assert mod.post(f"/answers/{answer.pk}/hide/", {"reason": "spam"}).json()["hidden"] is True
    assert Api().get(f"/questions/{question.pk}/").json()["answers"] == []
    assert mod.post(f"/answers/{answer.pk}/restore/").json()["hidden"] is False
    _error(mod.post("/answers/999999/hide/"), 404, "not_found")


def test_writes_need_sign_in(question):
    _error(Api().post("/questions/", {"title": "t", "body": "b", "tags": ["t"]}), 401,
           "not_signed_in")  # fmt: skip
    _error(Api().post(f"/questions/{question.pk}/vote/", {"value": 1}), 401, "not_signed_in")
    assert Question.objects.count() == 1


def test_session_writes_enforce_csrf(member, other_member, question):
    no_csrf = Api(member, csrf=False)
    _error(
        no_csrf.post("/questions/", {"title": "t", "body": "b", "tags": ["t"]}), 403, "forbidden"
    )
    _error(
        Api(other_member, csrf=False).post(f"/questions/{question.pk}/vote/", {"value": 1}),
        403,
        "forbidden",
    )
    assert _stored() == (1, 0, 0)
    # Reads need no token.
    assert no_csrf.get(f"/questions/{question.pk}/").status_code == 200


def test_imported_posts_carry_their_source(imported):
    q1 = Question.objects.get(source_id=1)
    body = Api().get(f"/questions/{q1.pk}/").json()
    assert body["author"] is None
    assert body["source"] == {
        "site": "ai.meta.stackexchange.com",
        "id": 1,
        "url": "https://ai.meta.stackexchange.com/q/1",
        "author_url": "https://ai.meta.stackexchange.com/users/33",
        "author_name": None,  # no Users.xml for this site
        "licence": "CC BY-SA 3.0",
        "licence_url": "https://creativecommons.org/licenses/by-sa/3.0/",
    }
    assert all(answer["source"]["licence"] for answer in body["answers"])


def test_openapi_schema_lists_qa(db):
    schema = Client().get(f"{API}/openapi.json").json()
    assert "/api/v1/questions/{question_id}/accept/" in schema["paths"]


def test_moderation_posts_need_no_body(question, make_answer, moderator):
    answer = make_answer(question)
    mod = Api(moderator)
    assert mod.post(f"/questions/{question.pk}/mute/", raw="").status_code == 200
    assert mod.post(f"/answers/{answer.pk}/hide/", raw="").status_code == 200
    question.refresh_from_db()
    assert question.is_locked and question.answer_count == 0
