from django.urls import re_path

from community.consumers import MeConsumer, RoomConsumer
from qa.consumers import QuestionConsumer
from realtime.consumers import NotFoundConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,20})/$", RoomConsumer.as_asgi()),
    re_path(r"^ws/questions/(?P<question_id>[^/]{1,20})/$", QuestionConsumer.as_asgi()),
    re_path(r"^ws/me/$", MeConsumer.as_asgi()),
    # Anything else gets a close code, not a dropped connection.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
