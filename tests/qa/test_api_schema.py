"""Schemathesis against the served OpenAPI schema, in process (WSGI, no server):
every Q&A operation, generated inputs, signed in as a member with a session and CSRF
token. No response may be a 500 or break the schema it documents.

Runs a few examples per operation (about 20 s) so it can stay in the default suite.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from qa import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(member, other_member, moderator):
    """A question with answers and comments for ids 1.. to point at."""
    question = services.question_ask(
        member=member, title="A first question", body="Body **text**", tags=["funding"]
    )
    answer = services.answer_post(member=other_member, question_id=question.pk, body="An answer")
    services.comment_add(member=member, target="answer", target_id=answer.pk, body="Thanks")
    return member


@pytest.fixture
def session_headers(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world)
    client.get("/questions/")  # sets the CSRF cookie
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    # Django's test client keeps the test's database connection (inside the test's
    # transaction) by unhooking close_old_connections per request; the raw WSGI app would
    # close it at every request, so unhook it for the whole test. (After the client above,
    # which hooks it back when its request ends.)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
        "Referer": "http://localhost/",
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_conforms_to_its_schema(settings, session_headers):
    # Loaded inside the test, not at collection: under production settings (CI) the
    # request needs the test's plain-HTTP setting and "localhost" as an allowed host.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operations = [result.ok() for result in schema.include(tag="questions").get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            # Every default check except "schema-valid data must be accepted": the schema
            # cannot say that a cursor must come from the list, a tag must not contain "/",
            # or a title must have words, so those are (documented) 400s, not failures.
            case.call_and_validate(
                headers=session_headers, excluded_checks=[positive_data_acceptance]
            )

        check()
