from django.urls import path

from community import views

urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/", views.room_list, name="room_list"),
    path("rooms/<int:room_id>/", views.room_detail, name="room_detail"),
    path("rooms/<int:room_id>/post/", views.room_post, name="room_post"),
    path("rooms/<int:room_id>/mute/", views.room_mute, name="room_mute"),
    path("rooms/<int:room_id>/unmute/", views.room_unmute, name="room_unmute"),
    path("profile/", views.profile_edit, name="profile_edit"),
    path("profile/tokens/", views.token_create, name="token_create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("members/<int:member_id>/mute/", views.member_mute, name="member_mute"),
    path("members/<int:member_id>/unmute/", views.member_unmute, name="member_unmute"),
    path("organisations/<slug:slug>/", views.organisation_detail, name="organisation_detail"),
]
