"""Q&A pages. Thin: parse the request, call a selector or service, render.

Every write works as a plain form POST (redirect after success) and through htmx
(the updated fragment comes back). A refusal re-renders the form with what was
typed and the refusal's status (400/403/404/413/429).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from community.errors import NotFound, ServiceError
from community.permissions import is_moderator
from qa import selectors, services
from qa.forms import AnswerForm, QuestionForm, form_refused
from qa.models import LICENCE_URLS, Answer, Question
from qa.permissions import access_post_edit, access_question_accept, access_vote

SORT_TABS = [("newest", "Newest"), ("votes", "Votes"), ("unanswered", "Unanswered")]


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


@require_GET
def question_list(request: HttpRequest) -> HttpResponse:
    sort = request.GET.get("sort") or "newest"
    tag = (request.GET.get("tag") or "").strip().lower()[:35]
    q = (request.GET.get("q") or "").strip()[:200]
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.question_list(sort=sort, tag=tag or None, q=q or None, cursor=cursor)
    except ServiceError as error:
        return render(
            request, "error.html", {"title": "Bad request", "detail": error.detail}, status=400
        )
    next_url = None
    if page.next:
        params = {"sort": sort, "tag": tag, "q": q, "cursor": page.next}
        next_url = "?" + urlencode({k: v for k, v in params.items() if v})
    tabs = [
        (
            value,
            label,
            "?" + urlencode({k: v for k, v in {"sort": value, "tag": tag, "q": q}.items() if v}),
        )
        for value, label in SORT_TABS
    ]
    context = {
        "page": page,
        "questions": page.items,
        "sort": sort,
        "tabs": tabs,
        "tag": selectors.tag_get(slug=tag) if tag else None,
        "tag_slug": tag,
        "q": q,
        "next_url": next_url,
        "first_url": "?"
        + urlencode({k: v for k, v in {"sort": sort, "tag": tag, "q": q}.items() if v}),
        "is_later_page": bool(cursor),
        "imported_sources": _sources(page.items),
    }
    return render(request, "qa/question_list.html", context)


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
    return {
        "question": question,
        "answers": answers,
        "can_accept": access_question_accept(member, question),
        "can_moderate": is_moderator(member),
        "can_answer": not question.is_locked or is_moderator(member),
        "answer_form": form or AnswerForm(),
        "imported_sources": _sources([question, *answers]),
        "error": error,
    }


@require_GET
def question_page(request: HttpRequest, question_id: int) -> HttpResponse:
    return question_detail(request, question_id)


def question_detail(
    request: HttpRequest,
    question_id: int,
    *,
    answer_form: AnswerForm | None = None,
    status: int = 200,
) -> HttpResponse:
    question = _question_or_404(question_id)
    context = _answers_context(request, question, answer_form)
    context["can_edit"] = access_post_edit(request.user, question)
    return render(request, "qa/question_detail.html", context, status=status)


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


@login_required
@require_http_methods(["GET", "POST"])
def question_ask(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "qa/question_ask.html", {"form": QuestionForm()})
    form = QuestionForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            question = services.question_ask(
                member=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                tags=form.tag_names(),
            )
        except ServiceError as error:
            form_refused(form, error)
            status = error.status
        else:
            return redirect(question)
    return render(request, "qa/question_ask.html", {"form": form}, status=status)


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
