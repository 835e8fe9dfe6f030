"""access_<thing>() helpers for Q&A: who may do what to a question or answer."""

from __future__ import annotations

from community.models import Member
from community.permissions import is_moderator
from qa.models import Answer, Comment, Question


def _signed_in(member: Member | None) -> bool:
    return bool(member and member.is_authenticated and member.is_active)


def access_question_accept(member: Member | None, question: Question) -> bool:
    """The asker, or a moderator, chooses the accepted answer."""
    if not _signed_in(member):
        return False
    return question.author_id == member.pk or is_moderator(member)


def access_question_moderation(member: Member | None) -> bool:
    return is_moderator(member)


def access_post_edit(member: Member | None, post: Question | Answer) -> bool:
    """Own local posts, or any local post as a moderator. Imported posts are never edited."""
    if not _signed_in(member) or post.is_imported:
        return False
    return post.author_id == member.pk or is_moderator(member)


def access_vote(member: Member | None, post: Question | Answer) -> bool:
    """Any signed-in member except the post's author."""
    return _signed_in(member) and post.author_id != member.pk


def access_post_delete(member: Member | None, post: Answer) -> bool:
    """Own local answers, or any answer as a moderator."""
    if not _signed_in(member):
        return False
    if is_moderator(member):
        return True
    return not post.is_imported and post.author_id == member.pk


def access_comment_delete(member: Member | None, comment: Comment) -> bool:
    return _signed_in(member) and (comment.author_id == member.pk or is_moderator(member))
