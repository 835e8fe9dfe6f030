from django.contrib import admin
from django.urls import include, path, re_path

from config.api import api, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),
    path("questions/", include("qa.urls")),
    path("", include("community.urls")),
]

handler400 = "community.views.error_400"
handler403 = "community.views.error_403"
handler404 = "community.views.error_404"
handler500 = "community.views.error_500"
