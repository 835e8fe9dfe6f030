from django.contrib import admin

from qa.models import Answer, Question, Tag, Vote


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "sector"]
    search_fields = ["slug", "name"]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "created", "score", "answer_count", "is_locked"]
    list_filter = ["is_locked", "source_site"]
    search_fields = ["title"]
    raw_id_fields = ["author", "accepted_answer", "stream"]
    # Counters change only through qa.services (and `manage.py recount --fix`).
    readonly_fields = ["score", "imported_score", "answer_count", "html"]


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ["pk", "question", "author", "created", "score", "is_hidden"]
    list_filter = ["is_hidden", "source_site"]
    raw_id_fields = ["question", "author"]
    readonly_fields = ["score", "imported_score", "html", "is_hidden"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["member", "question", "answer", "value", "created"]
    raw_id_fields = ["member", "question", "answer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
