"""Q&A demo data: the Stack Exchange dump in ../shared/data when present, else a few
built-in questions between the demo members. Idempotent."""

from __future__ import annotations

from pathlib import Path

from community.models import Member
from qa import services
from qa.importer import stackexchange_import
from qa.models import Question

SE_SITE = "ai.meta.stackexchange.com"

BUILTIN_QUESTIONS = [
    (
        "Has anyone used the county's apprenticeship levy transfer?",
        "We are a 12-person joinery and want to take on an apprentice carpenter. Larger firms "
        "can transfer unused levy to us. **How did you find a partner?**",
        ["sector-f", "apprenticeships"],
        "We transferred 25% of our levy last year through the council's matching "
        "service; it took about six weeks. Happy to talk.",
    ),
    (
        "Which grants cover an energy audit for a small workshop?",
        "Our electricity bill doubled. Is there funding for an audit and for LED and "
        "heat-pump upgrades?",
        ["sector-c", "net-zero", "grants"],
        "The growth hub's decarbonisation fund paid for our audit in full.",
    ),
]


def questions_load(data_dir: Path | None) -> list[str]:
    sectors = services.sector_tags_sync()
    dump = data_dir / "qa" / SE_SITE if data_dir else None
    if dump and dump.is_dir():
        report = stackexchange_import(directory=dump, site=SE_SITE)
        return [f"sector tags created: {sectors}", *report.lines()]
    return [f"sector tags created: {sectors}", *_builtin_load()]


def _builtin_load() -> list[str]:
    members = list(Member.objects.filter(email__endswith="@demo.convene.test").order_by("pk"))
    if len(members) < 3:
        return ["built-in questions skipped: the demo accounts are not loaded"]
    created = 0
    for n, (title, body, tags, answer) in enumerate(BUILTIN_QUESTIONS):
        if Question.objects.filter(title=title).exists():
            continue
        asker, answerer = members[1 + n % 2], members[2 - n % 2]
        question = services.question_ask(member=asker, title=title, body=body, tags=tags)
        services.answer_post(member=answerer, question_id=question.pk, body=answer)
        created += 1
    return [f"built-in questions created: {created}"]
