from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import URLValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Sector(models.Model):
    """A UK SIC 2007 section (A to U)."""

    code = models.CharField(max_length=2, unique=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    divisions = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


class Organisation(models.Model):
    """A member business and its profile."""

    class Size(models.TextChoices):
        MICRO = "micro", "Micro (0 to 9 staff)"
        SMALL = "small", "Small (10 to 49 staff)"
        MEDIUM = "medium", "Medium (50 to 249 staff)"
        LARGE = "large", "Large (250 or more staff)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="organisations")
    size = models.CharField(max_length=10, choices=Size.choices, default=Size.MICRO)
    town = models.CharField(max_length=120, blank=True)
    website = models.URLField(blank=True, validators=[URLValidator(schemes=["http", "https"])])
    offers = models.TextField(blank=True, help_text="What the business offers to others.")
    seeks = models.TextField(blank=True, help_text="What the business is looking for.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("organisation_detail", args=[self.slug])


class MemberManager(UserManager):
    def create_user(self, email=None, password=None, **extra):
        extra.setdefault("username", None)
        return self._create_member(email, password, **extra)

    def create_superuser(self, email=None, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, is_moderator=True)
        return self._create_member(email, password, **extra)

    def _create_member(self, email, password, **extra):
        extra.pop("username", None)
        member = self.model(email=self.normalize_email(email), **extra)
        member.set_password(password)
        member.save(using=self._db)
        return member


class Member(AbstractUser):
    """A person in the network. Signs in with e-mail; belongs to one organisation."""

    username = None
    email = models.EmailField("e-mail address", unique=True)
    display_name = models.CharField(max_length=80)
    job_title = models.CharField(max_length=120, blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    is_moderator = models.BooleanField(default=False)
    timezone = models.CharField(max_length=64, default="Europe/London")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = MemberManager()

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def name(self) -> str:
        return self.display_name or self.email.split("@")[0]

    def get_absolute_url(self) -> str:
        return reverse("member_detail", args=[self.pk])


class Challenge(models.Model):
    """One of the network's shared problems, with its own discussion room."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.TextField()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Room(models.Model):
    class Kind(models.TextChoices):
        SECTOR = "sector", "Sector"
        CHALLENGE = "challenge", "Challenge"
        ROUNDTABLE = "roundtable", "Round-table"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    topic = models.CharField(max_length=300, blank=True)
    sector = models.OneToOneField(
        Sector, null=True, blank=True, on_delete=models.CASCADE, related_name="room"
    )
    challenge = models.OneToOneField(
        Challenge, null=True, blank=True, on_delete=models.CASCADE, related_name="room"
    )
    stream = models.OneToOneField("realtime.Stream", on_delete=models.PROTECT)
    is_muted = models.BooleanField(default=False)
    muted_reason = models.CharField(max_length=300, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    slow_mode_seconds = models.PositiveIntegerField(default=0)
    credit = models.CharField(max_length=300, blank=True, help_text="Source of imported history.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("room_detail", args=[self.pk])

    def muted_now(self, now=None) -> bool:
        if not self.is_muted:
            return False
        return self.muted_until is None or self.muted_until > (now or timezone.now())


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    client_id = models.UUIDField(default=uuid.uuid4)
    body = models.TextField()
    html = models.TextField()
    seq = models.PositiveBigIntegerField(help_text="Seq of the message.created event.")
    created = models.DateTimeField(default=timezone.now)
    edited = models.DateTimeField(null=True, blank=True)
    deleted = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["author", "client_id"], name="message_unique_client_id")
        ]
        indexes = [models.Index(fields=["room", "seq"], name="message_room_seq")]
        ordering = ["room", "seq"]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.body[:40]}"


class MemberMute(models.Model):
    """A moderator's mute of a member, site-wide (room is null) or in one room."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mutes"
    )
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.CASCADE)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    lifted = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "lifted"], name="membermute_active")]

    def __str__(self) -> str:
        where = f"room {self.room_id}" if self.room_id else "site"
        return f"{self.member} muted ({where})"


class ModerationLog(models.Model):
    """Audit log: who did what to what, and why."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200)
    reason = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"


class MemberStream(models.Model):
    """The member's own stream (notifications), delivered on /ws/me/."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="own_stream"
    )
    stream = models.OneToOneField("realtime.Stream", on_delete=models.PROTECT)

    def __str__(self) -> str:
        return f"stream of {self.member_id}"


class Notification(models.Model):
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=50)
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)
    read = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "-id"], name="notification_member_recent")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.member_id}: {self.title}"


class RoomReadState(models.Model):
    """How far a member has read in a room (the unread marker)."""

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "room"], name="readstate_one_per_room")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} read {self.room_id} to {self.last_read_seq}"


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the key is shown once."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
