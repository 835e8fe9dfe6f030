from django.urls import path

from qa import views

app_name = "qa"
urlpatterns = [
    path("", views.question_list, name="question_list"),
]
