from django.urls import re_path

from community.consumers import RoomConsumer
from realtime.consumers import NotFoundConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<room_id>[^/]{1,20})/$", RoomConsumer.as_asgi()),
    # Anything else gets a close code, not a dropped connection.
    re_path(r"", NotFoundConsumer.as_asgi()),
]
