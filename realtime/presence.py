"""Who is online in a stream, correct across server processes.

Each open socket (after `ready`) has a Presence row; its process beats
`last_seen` every few seconds. A row whose process died stops being beaten and
drops out of the online list after PRESENCE_TIMEOUT_SECONDS; a socket that
vanished without a close frame is closed by Daphne's ping timeout, which deletes
its row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from realtime.groups import stream_group
from realtime.models import Presence

if TYPE_CHECKING:
    from realtime.hub import StreamHub


def _fresh_after():
    return timezone.now() - timedelta(seconds=settings.CONVENE["PRESENCE_TIMEOUT_SECONDS"])


# A presence frame names at most this many members (and counts them all): in a room of
# 1,000 the full list would be ~60 KB, sent to every socket at every change.
PRESENCE_LIST_MAX = 50


def presence_online(*, stream_id: int) -> dict[str, Any]:
    """{"online": the first PRESENCE_LIST_MAX members by name, "count": everyone online}."""
    rows = (
        Presence.objects.filter(stream_id=stream_id, last_seen__gt=_fresh_after())
        .order_by("member_id")
        .values_list("member_id", "member")
    )
    seen: dict[int, dict[str, Any]] = {}
    for member_id, member in rows:
        seen.setdefault(member_id, member)
    ordered = sorted(seen.values(), key=lambda m: (str(m.get("name", "")).lower(), m.get("id", 0)))
    return {"online": ordered[:PRESENCE_LIST_MAX], "count": len(ordered)}


def presence_count(*, member_id: int) -> int:
    """Open sockets of a member (for the per-member connection limit)."""
    return Presence.objects.filter(member_id=member_id, last_seen__gt=_fresh_after()).count()


def presence_enter(
    *, stream_id: int, member_id: int, member: dict[str, Any], connection: str
) -> None:
    # One write, no read of the room: a join storm of N sockets must not cost N^2 rows.
    # The online list reaches everyone with the hub's next coalesced presence frame.
    Presence.objects.update_or_create(
        connection=connection,
        defaults={
            "stream_id": stream_id,
            "member_id": member_id,
            "member": member,
            "last_seen": timezone.now(),
        },
    )


def presence_with(presence: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """A known online list with one more member in it (the one who just joined), so a
    socket's own `ready` shows them before the next presence frame says so."""
    online = presence["online"]
    if any(entry.get("id") == member.get("id") for entry in online):
        return presence
    ordered = sorted(
        [*online, member], key=lambda m: (str(m.get("name", "")).lower(), m.get("id", 0))
    )
    return {"online": ordered[:PRESENCE_LIST_MAX], "count": presence["count"] + 1}


def presence_leave(*, connection: str) -> None:
    Presence.objects.filter(connection=connection).delete()


def _touch_and_list(*, connections: list[str], stream_ids: list[int]) -> dict[int, dict]:
    now = timezone.now()
    if connections:
        Presence.objects.filter(connection__in=connections).update(last_seen=now)
    # Rows of dead processes: long past the timeout, nobody will beat them again.
    stale = now - timedelta(seconds=10 * settings.CONVENE["PRESENCE_TIMEOUT_SECONDS"])
    Presence.objects.filter(last_seen__lt=stale).delete()
    return {stream_id: presence_online(stream_id=stream_id) for stream_id in stream_ids}


async def presence_heartbeat(hub: StreamHub) -> None:
    """Beat this process's sockets; tell local sockets when a stream's online list changed."""
    sockets = {socket for group in list(hub.members) for socket in hub.local(group)}
    present = [s for s in sockets if getattr(s, "presence_connection", None)]
    streams = {s.stream_id for s in present}
    if not present:
        return
    online = await database_sync_to_async(_touch_and_list)(
        connections=[s.presence_connection for s in present], stream_ids=sorted(streams)
    )
    for stream_id, presence in online.items():
        hub.presence_cache[stream_group(stream_id)] = presence
    for socket in present:
        await socket.presence_refresh(online.get(socket.stream_id, {"online": [], "count": 0}))
