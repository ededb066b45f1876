from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from sessions_app.api.urls import no_such_endpoint
from sessions_app.views import health
from sessions_app.views.password import PasswordChange

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", PasswordChange.as_view(), name="password_change"),
    path("healthz", health.healthz, name="healthz"),
    # Pages link the icon; this answers browsers that ask for /favicon.ico anyway (Django admin).
    path(
        "favicon.ico",
        login_not_required(
            RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"), permanent=True)
        ),
        name="favicon",
    ),
    path("django-admin/", admin.site.urls),
    path("api/v1/", include("sessions_app.api.urls")),
    # /api/… outside a known version answers in the API's error shape too.
    re_path(r"^api(?:/(?P<path>[\s\S]*))?$", no_such_endpoint),
    path("", include("sessions_app.urls")),
]

handler403 = "sessions_app.views.errors.permission_denied"
handler404 = "sessions_app.views.errors.page_not_found"
