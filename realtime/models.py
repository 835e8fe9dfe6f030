"""The durable per-stream event log.

A stream is anything clients subscribe to (a room, a question, a member's own
notifications). Every durable change is an Event with the stream's next `seq`;
the channel layer only accelerates delivery, resuming from this log is what
makes delivery correct.
"""

from django.db import models


class Stream(models.Model):
    # For admins and logs ("room:12"); group names use the id only, never this.
    label = models.CharField(max_length=100, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.label


class Event(models.Model):
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=50)
    data = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="event_unique_seq_per_stream")
        ]
        ordering = ["stream", "seq"]

    def __str__(self) -> str:
        return f"{self.stream_id}#{self.seq} {self.kind}"


class Presence(models.Model):
    """One open socket of a member in a stream (see realtime/presence.py)."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    member = models.JSONField(help_text="What others see: id, name, organisation.")
    member_id = models.PositiveBigIntegerField(db_index=True)
    connection = models.CharField(max_length=64, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["stream", "last_seen"], name="presence_stream_seen")]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.stream_id}"
