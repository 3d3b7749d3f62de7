from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.admin import login as admin_login
from cloudsite.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("v1/", include("accounts.urls")),
    path("v1/", include("files.urls")),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (/v1/docs?script=), not
    # inline: the Content-Security-Policy runs no inline script.
    path("v1/docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("admin/login/", admin_login, name="admin-login"),  # the throttled login (accounts.admin)
    path("admin/", admin.site.urls),
]

handler400 = "cloudsite.errors.bad_request"
handler403 = "cloudsite.errors.permission_denied"
handler404 = "cloudsite.errors.page_not_found"
handler500 = "cloudsite.errors.server_error"
