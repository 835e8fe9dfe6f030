"""Q&A pages. Thin: parse the request, call a selector or service, render.

Every write works as a plain form POST (redirect after success) and through htmx
(the updated fragment comes back). A refusal re-renders the form with what was
typed and the refusal's status (400/403/404/413/429).
"""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import strip_tags
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from community.errors import NotFound, ServiceError
from community.markup import render_markdown
from community.models import Member, Organisation
from community.payloads import iso_utc
from community.permissions import is_moderator
from qa import selectors, services
from qa.forms import AnswerForm, QuestionForm, form_refused
from qa.models import LICENCE_URLS, Answer, Comment, Question
from qa.permissions import (
    access_comment_delete,
    access_post_delete,
    access_post_edit,
    access_question_accept,
    access_vote,
)

SORT_TABS = [
    ("newest", "Newest"),
    ("active", "Active"),
    ("votes", "Votes"),
    ("unanswered", "Unanswered"),
]
ANSWERED_FILTERS = [
    ("", "All"),
    ("yes", "Answered"),
    ("no", "Not answered"),
    ("accepted", "Accepted"),
]


def _question_or_404(question_id: int) -> Question:
    try:
        return selectors.question_get(question_id=question_id)
    except NotFound:
        raise Http404("No such question.") from None


def _answer_question_id(answer_id: int) -> int:
    question_id = Answer.objects.filter(pk=answer_id).values_list("question_id", flat=True).first()
    if question_id is None:
        raise Http404("No such answer.")
    return question_id


# --- reading ---------------------------------------------------------------------------


def _query(**params) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


@require_GET
def question_list(request: HttpRequest, tag_slug: str = "") -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:200]
    sort = request.GET.get("sort") or ("relevance" if q else "newest")
    tag = (tag_slug or request.GET.get("tag") or "").strip().lower()[:35]
    answered = request.GET.get("answered") or ""
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.question_list(
            sort=sort,
            tag=tag or None,
            q=q or None,
            answered=answered or None,
            cursor=cursor,
            with_snippets=True,
        )
    except ServiceError as error:
        return render(
            request, "error.html", {"title": "Bad request", "detail": error.detail}, status=400
        )
    sort = page.sort
    base = {"tag": "" if tag_slug else tag, "q": q, "answered": answered}
    next_url = _query(sort=sort, **base, cursor=page.next) if page.next else None
    tab_list = [("relevance", "Relevance"), *SORT_TABS] if q else SORT_TABS
    tabs = [(value, label, _query(sort=value, **base)) for value, label in tab_list]
    filters = [
        (value, label, _query(sort=sort, **{**base, "answered": value}))
        for value, label in ANSWERED_FILTERS
    ]
    tag_row = selectors.tag_get(slug=tag) if tag else None
    if tag_slug and tag_row is None:
        raise Http404("No such tag.")
    for question in page.items:
        question.snippet = (page.snippets or {}).get(question.pk)
    context = {
        "page": page,
        "questions": page.items,
        "sort": sort,
        "tabs": tabs,
        "filters": filters,
        "answered": answered,
        "tag": tag_row,
        "tag_slug": tag,
        "tag_page": bool(tag_slug),
        "following_tag": selectors.tag_follows(member=request.user, tag=tag_row)
        if tag_slug and tag_row
        else False,
        "q": q,
        "next_url": next_url,
        "first_url": _query(sort=sort, **base),
        "is_later_page": bool(cursor),
        "imported_sources": _sources(page.items),
    }
    return render(request, "qa/question_list.html", context)


@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    return render(request, "qa/tag_list.html", {"tags": selectors.tags_popular()})


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return question_list(request, tag_slug=slug[:35])


def _sources(posts) -> list[dict]:
    """The distinct sources of imported posts on a page, for the footer credit."""
    seen: dict[str, set[str]] = {}
    for post in posts:
        if post.is_imported:
            seen.setdefault(post.source_site, set()).add(post.licence)
    return [
        {
            "site": site,
            "licences": [
                {"name": name, "url": LICENCE_URLS.get(name, "")} for name in sorted(licences)
            ],
        }
        for site, licences in sorted(seen.items())
    ]


@require_GET
def recent_fragment(request: HttpRequest) -> HttpResponse:
    questions = selectors.questions_recent(limit=5)
    return render(
        request,
        "qa/_recent.html",
        {"questions": questions, "imported_sources": _sources(questions)},
    )


def _answers_context(
    request: HttpRequest,
    question: Question,
    form: AnswerForm | None = None,
    error: str = "",
) -> dict:
    member = request.user
    answers = selectors.question_answers(question=question, member=member)
    votes = selectors.member_votes(member=member, question=question, answers=answers)
    for answer in answers:
        answer.my_vote = votes["answers"].get(answer.pk, 0)
        answer.can_vote = access_vote(member, answer)
        answer.can_edit = access_post_edit(member, answer)
    question.my_vote = votes["question"]
    question.can_vote = access_vote(member, question)
    question_comments, answer_comments = selectors.question_comments(
        question=question, answers=answers
    )
    signed_in = bool(member and member.is_authenticated)
    for answer in answers:
        answer.comment_list = answer_comments.get(answer.pk, [])
        answer.can_delete = access_post_delete(member, answer)
        for comment in answer.comment_list:
            comment.can_delete = access_comment_delete(member, comment)
    for comment in question_comments:
        comment.can_delete = access_comment_delete(member, comment)
    question.comment_list = question_comments
    moderator = is_moderator(member)
    closed = question.is_locked or question.duplicate_of_id is not None
    return {
        "question": question,
        "answers": answers,
        "can_accept": access_question_accept(member, question),
        "can_moderate": moderator,
        "can_answer": not closed or moderator,
        "can_comment": signed_in and (not question.is_locked or moderator),
        "answer_form": form or AnswerForm(),
        "imported_sources": _sources([question, *answers]),
        "error": error,
    }


@require_GET
def question_page(request: HttpRequest, question_id: int) -> HttpResponse:
    if request.GET.get("fragment") == "answers":  # the live page's refresh of one section
        return _answers_fragment(request, question_id)
    return question_detail(request, question_id)


def question_detail(
    request: HttpRequest,
    question_id: int,
    *,
    answer_form: AnswerForm | None = None,
    status: int = 200,
) -> HttpResponse:
    question = _question_or_404(question_id)
    if status == 200 and request.method == "GET":
        services.question_view_record(member=request.user, question_id=question.pk)
    context = _answers_context(request, question, answer_form)
    context["can_edit"] = access_post_edit(request.user, question)
    context["following"] = selectors.question_follows(member=request.user, question=question)
    context["duplicates"] = selectors.question_duplicates(question=question)
    context["schema"] = qapage_schema(request, question, context["answers"])
    return render(request, "qa/question_detail.html", context, status=status)


def _person(request: HttpRequest, post) -> dict:
    if post.author:
        return {
            "@type": "Person",
            "name": post.author.name,
            "url": request.build_absolute_uri(post.author.get_absolute_url()),
        }
    if post.is_imported:
        person = {"@type": "Person", "name": f"{post.source_author_label} on {post.source_site}"}
        if post.source_author_url:
            person["url"] = post.source_author_url
        return person
    return {"@type": "Person", "name": "a former member"}


def _answer_schema(request: HttpRequest, question: Question, answer: Answer) -> dict:
    return {
        "@type": "Answer",
        "text": unescape(strip_tags(answer.html)).strip()[:5000],
        "dateCreated": iso_utc(answer.created),
        "upvoteCount": answer.score,
        "url": request.build_absolute_uri(f"{question.get_absolute_url()}#answer-{answer.pk}"),
        "author": _person(request, answer),
    }


def qapage_schema(request: HttpRequest, question: Question, answers: list[Answer]) -> dict:
    """schema.org QAPage markup (https://schema.org/QAPage) for search engines."""
    visible = [answer for answer in answers if not answer.is_hidden]
    accepted = [answer for answer in visible if answer.pk == question.accepted_answer_id]
    entity: dict = {
        "@type": "Question",
        "name": question.title,
        "text": unescape(strip_tags(question.html)).strip()[:5000] or question.title,
        "answerCount": question.answer_count,
        "upvoteCount": question.score,
        "dateCreated": iso_utc(question.created),
        "author": _person(request, question),
    }
    if accepted:
        entity["acceptedAnswer"] = _answer_schema(request, question, accepted[0])
    suggested = [
        _answer_schema(request, question, a) for a in visible if a.pk != question.accepted_answer_id
    ]
    if suggested:
        entity["suggestedAnswer"] = suggested
    return {"@context": "https://schema.org", "@type": "QAPage", "mainEntity": entity}


def _answers_fragment(
    request: HttpRequest,
    question_id: int,
    *,
    form: AnswerForm | None = None,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    question = _question_or_404(question_id)
    context = _answers_context(request, question, form, error)
    return render(request, "qa/_answers.html", context, status=status)


# --- asking and answering ---------------------------------------------------------------


def _addressee(raw: str) -> tuple[dict | None, object]:
    """`organisation:12` or `member:3` from the ask form -> (addressed_to, who for display)."""
    kind, _, pk = (raw or "").partition(":")
    if kind not in ("organisation", "member") or not pk.isdigit() or len(pk) > 18:
        return None, None
    model = Organisation if kind == "organisation" else Member
    return {"kind": kind, "id": int(pk)}, model.objects.filter(pk=int(pk)).first()


@login_required
@require_http_methods(["GET", "POST"])
def question_ask(request: HttpRequest) -> HttpResponse:
    to = (request.POST.get("to") if request.method == "POST" else request.GET.get("to")) or ""
    addressed_to, addressee = _addressee(to[:40])
    context = {"to": to[:40] if addressee else "", "addressee": addressee}
    if request.method == "GET":
        return render(request, "qa/question_ask.html", {"form": QuestionForm(), **context})
    form = QuestionForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            question = services.question_ask(
                member=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                tags=form.tag_names(),
                addressed_to=addressed_to,
            )
        except ServiceError as error:
            form_refused(form, error)
            status = error.status
        else:
            return redirect(question)
    return render(request, "qa/question_ask.html", {"form": form, **context}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(question_id)
    if not access_post_edit(request.user, question):
        raise Http404("You cannot edit this question.")
    if request.method == "GET":
        form = QuestionForm.for_question(question)
        return render(request, "qa/question_edit.html", {"form": form, "question": question})
    form = QuestionForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.question_edit(
                member=request.user,
                question_id=question.pk,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                tags=form.tag_names(),
            )
        except ServiceError as error:
            form_refused(form, error)
            status = error.status
        else:
            return redirect(question)
    return render(
        request, "qa/question_edit.html", {"form": form, "question": question}, status=status
    )


@login_required
@require_POST
def answer_create(request: HttpRequest, question_id: int) -> HttpResponse:
    form = AnswerForm(request.POST)
    form.is_valid()
    try:
        answer = services.answer_post(
            member=request.user, question_id=question_id, body=form.cleaned_data.get("body", "")
        )
    except ServiceError as error:
        if error.status == 404:
            raise Http404(error.detail) from None
        form_refused(form, error)
        if request.htmx:
            return _answers_fragment(request, question_id, form=form, status=error.status)
        return question_detail(request, question_id, answer_form=form, status=error.status)
    if request.htmx:
        return _answers_fragment(request, question_id)
    return redirect(answer.get_absolute_url())


@login_required
@require_http_methods(["GET", "POST"])
def answer_edit(request: HttpRequest, answer_id: int) -> HttpResponse:
    answer = Answer.objects.select_related("question").filter(pk=answer_id).first()
    if answer is None or (answer.is_hidden and not is_moderator(request.user)):
        raise Http404("No such answer.")
    if not access_post_edit(request.user, answer):
        raise Http404("You cannot edit this answer.")
    if request.method == "GET":
        form = AnswerForm(initial={"body": answer.body})
        return render(request, "qa/answer_edit.html", {"form": form, "answer": answer})
    form = AnswerForm(request.POST)
    form.is_valid()
    try:
        services.answer_edit(
            member=request.user, answer_id=answer.pk, body=form.cleaned_data.get("body", "")
        )
    except ServiceError as error:
        form_refused(form, error)
        return render(
            request, "qa/answer_edit.html", {"form": form, "answer": answer}, status=error.status
        )
    return redirect(answer.get_absolute_url())


# --- votes, acceptance, moderation ---------------------------------------------------


def _vote_value(request: HttpRequest) -> object:
    raw = request.POST.get("value", "")
    try:
        return int(raw)
    except ValueError:
        return raw


def _refused_page(request: HttpRequest, question_id: int, error: ServiceError) -> HttpResponse:
    if error.status == 404:
        raise Http404(error.detail)
    messages.error(request, error.detail)
    return question_detail(request, question_id, status=error.status)


def _vote(request: HttpRequest, *, target: str, target_id: int, question_id: int) -> HttpResponse:
    try:
        result = services.vote_cast(
            member=request.user, target=target, target_id=target_id, value=_vote_value(request)
        )
    except ServiceError as error:
        if error.status == 404:
            raise Http404(error.detail) from None
        if request.htmx:
            context = {
                "target": target,
                "target_id": target_id,
                "score": _score(target, target_id),
                "my_vote": selectors.vote_value(
                    member=request.user, target=target, target_id=target_id
                ),
                "can_vote": True,
                "error": error.detail,
            }
            return render(request, "qa/_vote.html", context, status=error.status)
        return _refused_page(request, question_id, error)
    if request.htmx:
        context = {
            "target": target,
            "target_id": target_id,
            "score": result.score,
            "my_vote": result.value,
            "can_vote": True,
        }
        return render(request, "qa/_vote.html", context)
    anchor = "question" if target == "question" else f"answer-{target_id}"
    return redirect(reverse("qa:question_detail", args=[question_id]) + f"#{anchor}")


def _score(target: str, target_id: int) -> int:
    model = Question if target == "question" else Answer
    return model.objects.filter(pk=target_id).values_list("score", flat=True).first() or 0


@login_required
@require_POST
def question_vote(request: HttpRequest, question_id: int) -> HttpResponse:
    return _vote(request, target="question", target_id=question_id, question_id=question_id)


@login_required
@require_POST
def answer_vote(request: HttpRequest, answer_id: int) -> HttpResponse:
    question_id = _answer_question_id(answer_id)
    return _vote(request, target="answer", target_id=answer_id, question_id=question_id)


def _answers_write(
    request: HttpRequest, question_id: int, action: Callable[[], object]
) -> HttpResponse:
    """Run a write that changes the answers section; answer with that section or a redirect."""
    try:
        action()
    except ServiceError as error:
        if error.status == 404:
            raise Http404(error.detail) from None
        if request.htmx:
            return _answers_fragment(request, question_id, status=error.status, error=error.detail)
        return _refused_page(request, question_id, error)
    if request.htmx:
        return _answers_fragment(request, question_id)
    return redirect(reverse("qa:question_detail", args=[question_id]) + "#answers")


@login_required
@require_POST
def answer_accept(request: HttpRequest, question_id: int) -> HttpResponse:
    raw = request.POST.get("answer_id", "")
    answer_id: object = None
    if raw:
        try:
            answer_id = int(raw)
        except ValueError:
            answer_id = raw
    return _answers_write(
        request,
        question_id,
        lambda: services.answer_accept(
            member=request.user, question_id=question_id, answer_id=answer_id
        ),
    )


@login_required
@require_POST
def answer_hide(request: HttpRequest, answer_id: int) -> HttpResponse:
    question_id = _answer_question_id(answer_id)
    return _answers_write(
        request,
        question_id,
        lambda: services.answer_hide(
            moderator=request.user, answer_id=answer_id, reason=request.POST.get("reason", "")[:300]
        ),
    )


@login_required
@require_POST
def answer_restore(request: HttpRequest, answer_id: int) -> HttpResponse:
    question_id = _answer_question_id(answer_id)
    return _answers_write(
        request,
        question_id,
        lambda: services.answer_restore(moderator=request.user, answer_id=answer_id),
    )


@login_required
@require_POST
def question_lock(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_lock(
            moderator=request.user,
            question_id=question_id,
            reason=request.POST.get("reason", "")[:300],
        )
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect("qa:question_detail", question_id=question_id)


@login_required
@require_POST
def question_unlock(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_unlock(moderator=request.user, question_id=question_id)
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect("qa:question_detail", question_id=question_id)


# --- preview, similar questions ------------------------------------------------------


@login_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """Markdown to HTML through the one renderer, for the live preview (no write)."""
    body = request.POST.get("body", "")
    if len(body) > settings.CONVENE["POST_BODY_MAX_CHARS"]:
        return HttpResponse("Too long to preview.", status=413, content_type="text/plain")
    return render(request, "qa/_preview.html", {"html": render_markdown(body)})


@require_GET
def similar(request: HttpRequest) -> HttpResponse:
    title = (request.GET.get("title") or "")[:200]
    questions = selectors.questions_similar(title=title)
    return render(request, "qa/_similar.html", {"questions": questions})


# --- comments, deleting answers ------------------------------------------------------------


def _comment_write(request: HttpRequest, question_id: int, action) -> HttpResponse:
    """Comments are plain forms: redirect back (others see them live over the socket)."""
    try:
        action()
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect(reverse("qa:question_detail", args=[question_id]) + "#comments")


@login_required
@require_POST
def question_comment(request: HttpRequest, question_id: int) -> HttpResponse:
    return _comment_write(
        request,
        question_id,
        lambda: services.comment_add(
            member=request.user,
            target="question",
            target_id=question_id,
            body=request.POST.get("body", ""),
        ),
    )


@login_required
@require_POST
def answer_comment(request: HttpRequest, answer_id: int) -> HttpResponse:
    question_id = _answer_question_id(answer_id)
    return _comment_write(
        request,
        question_id,
        lambda: services.comment_add(
            member=request.user,
            target="answer",
            target_id=answer_id,
            body=request.POST.get("body", ""),
        ),
    )


@login_required
@require_POST
def comment_delete(request: HttpRequest, comment_id: int) -> HttpResponse:
    row = Comment.objects.filter(pk=comment_id).values("question_id", "answer__question_id").first()
    if row is None:
        raise Http404("No such comment.")
    question_id = row["question_id"] or row["answer__question_id"]
    return _comment_write(
        request,
        question_id,
        lambda: services.comment_delete(member=request.user, comment_id=comment_id),
    )


@login_required
@require_POST
def answer_delete(request: HttpRequest, answer_id: int) -> HttpResponse:
    question_id = _answer_question_id(answer_id)
    return _answers_write(
        request,
        question_id,
        lambda: services.answer_delete(member=request.user, answer_id=answer_id),
    )


# --- following, duplicates ---------------------------------------------------------------


def _on(request: HttpRequest) -> bool:
    return request.POST.get("on", "1") not in ("0", "false", "")


@login_required
@require_POST
def question_follow(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.follow_set(member=request.user, question_id=question_id, on=_on(request))
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect("qa:question_detail", question_id=question_id)


@login_required
@require_POST
def tag_follow(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        services.follow_set(member=request.user, tag=slug[:35], on=_on(request))
    except NotFound:
        raise Http404("No such tag.") from None
    return redirect("qa:tag_detail", slug=slug)


@login_required
@require_POST
def question_close(request: HttpRequest, question_id: int) -> HttpResponse:
    raw = (request.POST.get("duplicate_of") or "").strip().rstrip("/").rsplit("/", 1)[-1]
    duplicate_of: object = int(raw) if raw.isdigit() and len(raw) < 18 else raw
    try:
        services.question_close_duplicate(
            moderator=request.user, question_id=question_id, duplicate_of=duplicate_of
        )
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect("qa:question_detail", question_id=question_id)


@login_required
@require_POST
def question_reopen(request: HttpRequest, question_id: int) -> HttpResponse:
    try:
        services.question_reopen(moderator=request.user, question_id=question_id)
    except ServiceError as error:
        return _refused_page(request, question_id, error)
    return redirect("qa:question_detail", question_id=question_id)


# --- revisions ---------------------------------------------------------------------------


@require_GET
def question_revisions(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question_or_404(question_id)
    revisions = selectors.post_revisions(question=question)
    return render(
        request,
        "qa/revisions.html",
        {"question": question, "post_label": "question", "revisions": revisions},
    )


@require_GET
def answer_revisions(request: HttpRequest, answer_id: int) -> HttpResponse:
    answer = Answer.objects.select_related("question").filter(pk=answer_id).first()
    if answer is None or (answer.is_hidden and not is_moderator(request.user)):
        raise Http404("No such answer.")
    revisions = selectors.post_revisions(answer=answer)
    return render(
        request,
        "qa/revisions.html",
        {
            "question": answer.question,
            "answer": answer,
            "post_label": "answer",
            "revisions": revisions,
        },
    )


# --- fragments for community profile pages ----------------------------------------------


@require_GET
def organisation_fragment(request: HttpRequest, organisation_id: int) -> HttpResponse:
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise Http404("No such organisation.")
    data = selectors.organisation_qa(organisation_id=organisation.pk)
    return render(
        request,
        "qa/_profile_qa.html",
        {
            "who": organisation,
            "to": f"organisation:{organisation.pk}",
            "can_ask": request.user.is_authenticated
            and request.user.organisation_id != organisation.pk,
            **data,
        },
    )


@require_GET
def member_fragment(request: HttpRequest, member_id: int) -> HttpResponse:
    profile = Member.objects.filter(pk=member_id, is_active=True).first()
    if profile is None:
        raise Http404("No such member.")
    data = selectors.member_qa(member_id=profile.pk)
    return render(
        request,
        "qa/_profile_qa.html",
        {
            "who": profile,
            "to": f"member:{profile.pk}",
            "can_ask": request.user.is_authenticated and request.user.pk != profile.pk,
            **data,
        },
    )
