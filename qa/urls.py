from django.urls import path

from qa import views

app_name = "qa"
urlpatterns = [
    path("", views.question_list, name="question_list"),
    path("ask/", views.question_ask, name="question_ask"),
    path("recent/", views.recent_fragment, name="recent_fragment"),
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
