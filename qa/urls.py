from django.urls import path

from qa import views

app_name = "qa"
urlpatterns = [
    path("", views.question_list, name="question_list"),
    path("ask/", views.question_ask, name="question_ask"),
    path("recent/", views.recent_fragment, name="recent_fragment"),
    path("preview/", views.preview, name="preview"),
    path("similar/", views.similar, name="similar"),
    path("tags/", views.tag_list, name="tag_list"),
    path("tagged/<str:slug>/", views.tag_detail, name="tag_detail"),
    path("tagged/<str:slug>/follow/", views.tag_follow, name="tag_follow"),
    path(
        "for/organisation/<int:organisation_id>/",
        views.organisation_fragment,
        name="organisation_fragment",
    ),
    path("for/member/<int:member_id>/", views.member_fragment, name="member_fragment"),
    path("<int:question_id>/revisions/", views.question_revisions, name="question_revisions"),
    path("<int:question_id>/comments/", views.question_comment, name="question_comment"),
    path("<int:question_id>/follow/", views.question_follow, name="question_follow"),
    path("<int:question_id>/close/", views.question_close, name="question_close"),
    path("<int:question_id>/reopen/", views.question_reopen, name="question_reopen"),
    path("answers/<int:answer_id>/revisions/", views.answer_revisions, name="answer_revisions"),
    path("answers/<int:answer_id>/comments/", views.answer_comment, name="answer_comment"),
    path("answers/<int:answer_id>/delete/", views.answer_delete, name="answer_delete"),
    path("comments/<int:comment_id>/delete/", views.comment_delete, name="comment_delete"),
    path("<int:question_id>/", views.question_page, name="question_detail"),
    path("<int:question_id>/edit/", views.question_edit, name="question_edit"),
    path("<int:question_id>/answers/", views.answer_create, name="answer_create"),
    path("<int:question_id>/vote/", views.question_vote, name="question_vote"),
    path("<int:question_id>/accept/", views.answer_accept, name="answer_accept"),
    path("<int:question_id>/lock/", views.question_lock, name="question_lock"),
    path("<int:question_id>/unlock/", views.question_unlock, name="question_unlock"),
    path("answers/<int:answer_id>/edit/", views.answer_edit, name="answer_edit"),
    path("answers/<int:answer_id>/vote/", views.answer_vote, name="answer_vote"),
    path("answers/<int:answer_id>/hide/", views.answer_hide, name="answer_hide"),
    path("answers/<int:answer_id>/restore/", views.answer_restore, name="answer_restore"),
]
