"""The one place that builds channel-layer group names.

Names come from database ids only, never from user text; the channel layer
accepts ASCII letters, digits, '-', '_' and '.', under 100 characters.
"""


def _checked_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"group ids must be non-negative integers, got {value!r}")
    return value


def stream_group(stream_id: int) -> str:
    """One stream's live events and its ephemeral frames (typing, presence)."""
    return f"stream.{_checked_id(stream_id)}"


def member_group(member_id: int) -> str:
    """Every open socket of one member: mutes, sign-out, personal notices."""
    return f"member.{_checked_id(member_id)}"
