"""Demo data from the real inputs in ../shared/data (or a small built-in set).

Idempotent: every row is found by a natural key before it is created, and
replayed chat lines carry a deterministic client_id.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from community import services
from community.models import Challenge, Member, Message, Organisation, Room, Sector

DEMO_PASSWORD = "convene-demo"  # noqa: S105 - printed for the embedded demo only
CHAT_NAMESPACE = uuid.UUID("5b0e3c2e-8f55-4d3e-9a7c-1f3f0f4c6a10")
CHAT_CREDIT = (
    "Chat history replayed from the Ubuntu IRC corpus of Kummerfeld et al. (ACL 2019), "
    "CC BY 4.0; nicknames replaced with neutral names."
)

BUILTIN_SECTORS = [
    ("C", "Manufacturing", "10;11;12"),
    ("F", "Construction", "41;42;43"),
    ("J", "Information and Communication", "58;59;60;61;62;63"),
    ("M", "Professional, Scientific and Technical Activities", "69;70;71;72;73;74;75"),
    ("Q", "Human Health and Social Work Activities", "86;87;88"),
]

CHALLENGES = [
    (
        "Skills shortages in key sectors",
        "Engineering, construction, digital and care employers cannot fill skilled roles. "
        "Share what works: apprenticeships, shared training, recruiting from outside the county.",
    ),
    (
        "An ageing population",
        "More residents over 65 and fewer of working age: what it means for care, housing, "
        "workforce planning and the products and services local firms build.",
    ),
    (
        "Keeping graduates in the county",
        "Graduates leave for the cities. Placements, graduate schemes, remote-first roles and "
        "start-up support that give them reasons to stay.",
    ),
    (
        "Net zero for small firms",
        "Cutting energy use and emissions when you have no sustainability team: grants, "
        "audits, suppliers and what other members have tried.",
    ),
]

# Neutral names for replayed chat: nicknames are real people's, so never shown.
NEUTRAL_NAMES = [
    "Alder", "Birch", "Cedar", "Damson", "Elm", "Fir", "Ginkgo", "Hazel", "Holly", "Juniper",
    "Larch", "Linden", "Maple", "Medlar", "Oak", "Olive", "Pine", "Quince", "Rowan", "Spruce",
    "Sycamore", "Tamarind", "Walnut", "Willow", "Yew", "Aspen", "Beech", "Cherry", "Elder",
    "Hawthorn", "Hornbeam", "Laurel", "Magnolia", "Mulberry", "Plane", "Poplar", "Sorrel",
]  # fmt: skip

CHAT_LINE = re.compile(r"^\[(\d\d):(\d\d)\] <([^>\s]+)> (.+)$")
SYSTEM_NICK = re.compile(r"^=== (\S+) (?:is now known as (\S+)|\[)")
# "nick: ...", "nick, ..." or "nick - ..." at the start of a line addresses someone.
ADDRESSEE = re.compile(r"^([A-Za-z_\[\]`^|{}][\w\-\[\]`^|{}]{1,30})(?:[:,]| -) ")
NOT_NICKS = frozenset(
    "hi hello hey thanks thank yes no ok okay well so also anyway sorry note edit update ah oh "
    "hmm yeah yep nope right sure wait actually question guys all everyone folks then but and "
    "or if why how what when where who which try please ubuntu linux btw fyi lol np ty thx "
    "first second also now here there this that it i you we they he she".split()
)


@dataclass(frozen=True)
class ChatLine:
    number: int
    created: datetime
    nick: str
    text: str


def chat_lines(path: Path, *, limit: int) -> Iterator[ChatLine]:
    """Spoken lines of an IRC log (`[HH:MM] <nick> text`); joins, parts and actions skipped."""
    day = datetime.strptime(path.name[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    count = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle):
            match = CHAT_LINE.match(raw.rstrip("\n"))
            if not match or not match.group(4).strip():
                continue
            hour, minute, nick, text = match.groups()
            yield ChatLine(number, day.replace(hour=int(hour), minute=int(minute)), nick, text)
            count += 1
            if count >= limit:
                return


def log_nicks(path: Path) -> list[str]:
    """Every nickname in the whole log: speakers, joins and renames, and people addressed
    at the start of a line (who may never speak in the lines we replay)."""
    nicks: dict[str, None] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            spoken = CHAT_LINE.match(line)
            if spoken:
                nicks.setdefault(spoken.group(3))
                addressed = ADDRESSEE.match(spoken.group(4))
                if addressed and addressed.group(1).lower() not in NOT_NICKS:
                    nicks.setdefault(addressed.group(1))
                continue
            system = SYSTEM_NICK.match(line)
            if system:
                for nick in system.groups():
                    if nick:
                        nicks.setdefault(nick)
    return list(nicks)


def neutral_names(nicks: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for nick in nicks:
        if nick not in names:
            n = len(names)
            base = NEUTRAL_NAMES[n % len(NEUTRAL_NAMES)]
            names[nick] = (
                base if n < len(NEUTRAL_NAMES) else f"{base} {n // len(NEUTRAL_NAMES) + 1}"
            )
    return names


def anonymise(text: str, names: dict[str, str]) -> str:
    """Replace every known nickname in the text (as a whole word) with its neutral name."""
    if not names:
        return text
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        + r")(?![\w-])"
    )
    return pattern.sub(lambda m: names[m.group(1)], text)


@dataclass
class DemoReport:
    sectors: int = 0
    challenges: int = 0
    rooms: int = 0
    chat_messages: int = 0
    accounts: list[tuple[str, str, str]] | None = None


def sectors_load(data_dir: Path | None) -> int:
    path = data_dir / "uk" / "sic2007_sections.csv" if data_dir else None
    if path and path.exists():
        with path.open(encoding="utf-8") as handle:
            rows = [
                (r["section"], r["section_name"], r["divisions"]) for r in csv.DictReader(handle)
            ]
    else:
        rows = BUILTIN_SECTORS
    for code, name, divisions in rows:
        sector, _ = Sector.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "slug": slugify(f"{code} {name}")[:200],
                "divisions": divisions,
            },
        )
        if not Room.objects.filter(sector=sector).exists():
            services.room_create(
                name=name, kind=Room.Kind.SECTOR, sector=sector, topic=f"SIC 2007 section {code}"
            )
    return len(rows)


def challenges_load() -> int:
    for title, summary in CHALLENGES:
        challenge, _ = Challenge.objects.get_or_create(
            slug=slugify(title), defaults={"title": title, "summary": summary}
        )
        if not Room.objects.filter(challenge=challenge).exists():
            services.room_create(
                name=title, kind=Room.Kind.CHALLENGE, challenge=challenge, topic=summary[:300]
            )
    return len(CHALLENGES)


def _organisation(name: str, sector_code: str, **fields) -> Organisation:
    sector = Sector.objects.filter(code=sector_code).first() or Sector.objects.first()
    organisation, _ = Organisation.objects.get_or_create(
        slug=slugify(name), defaults={"name": name, "sector": sector, **fields}
    )
    return organisation


def _account(email: str, name: str, organisation: Organisation, **flags) -> Member:
    member = Member.objects.filter(email=email).first()
    if member is None:
        member = Member.objects.create_user(
            email=email,
            password=DEMO_PASSWORD,
            display_name=name,
            organisation=organisation,
            **flags,
        )
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=member, email=email, defaults={"verified": True, "primary": True}
        )
    return member


def accounts_load() -> list[tuple[str, str, str]]:
    council = _organisation(
        "County Innovation Hub",
        "O",
        size="large",
        town="County Hall",
        offers="Funding advice, introductions, events.",
        seeks="Member stories and challenges.",
    )
    bakery = _organisation(
        "Riverside Bakery",
        "I",
        size="micro",
        town="Market Town",
        offers="Catering for events.",
        seeks="Help with energy costs and hiring bakers.",
    )
    engineering = _organisation(
        "Northgate Precision Engineering",
        "C",
        size="medium",
        town="Northgate",
        offers="CNC machining, apprenticeships.",
        seeks="Graduates and automation partners.",
    )
    _account(
        "moderator@demo.convene.test", "Morgan Reyes", council, is_moderator=True, is_staff=True
    )
    _account("amira@demo.convene.test", "Amira Shah", bakery)
    _account("tom@demo.convene.test", "Tom Baines", engineering)
    return [
        ("moderator", "moderator@demo.convene.test", DEMO_PASSWORD),
        ("member", "amira@demo.convene.test", DEMO_PASSWORD),
        ("member", "tom@demo.convene.test", DEMO_PASSWORD),
    ]


def chat_replay(data_dir: Path | None, *, lines: int = 300) -> int:
    """Replay real IRC lines into the Information and Communication room's history."""
    path = data_dir / "chat" / "2010-08-17_18.raw.txt" if data_dir else None
    room = Room.objects.filter(sector__code="J").first()
    if room is None or path is None or not path.exists():
        return 0
    parsed = list(chat_lines(path, limit=lines))
    # Speakers first (their names are the visible authors), then everyone else in the log.
    names = neutral_names([line.nick for line in parsed] + log_nicks(path))
    archive = _organisation(
        "Chat archive", "J", size="micro", offers="Replayed public chat for the demo."
    )
    speakers = {line.nick for line in parsed}
    authors = {
        nick: Member.objects.get_or_create(
            email=f"{slugify(name)}@archive.convene.invalid",
            defaults={"display_name": name, "organisation": archive},
        )[0]
        for nick, name in names.items()
        if nick in speakers
    }
    for member in authors.values():
        if member.has_usable_password():
            member.set_unusable_password()
            member.save(update_fields=["password"])
    if room.credit != CHAT_CREDIT:
        room.credit = CHAT_CREDIT
        room.save(update_fields=["credit"])
    before = Message.objects.filter(room=room).count()
    with transaction.atomic():
        for line in parsed:
            services.message_import(
                room=room,
                author=authors[line.nick],
                body=anonymise(line.text, names),
                created=line.created,
                client_id=uuid.uuid5(CHAT_NAMESPACE, f"{path.name}:{line.number}"),
            )
    return Message.objects.filter(room=room).count() - before
