"""The step-up page: the operator types their password again, then returns to what they were doing."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from ..step_up import mark_confirmed


def _safe_next(request: HttpRequest) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return reverse("home")


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    """Any signed-in person confirms their own password; it grants nothing their role lacks."""
    next_url = _safe_next(request)
    wrong = False
    if request.method == "POST":
        # Through the authentication backends, so failures count towards the sign-in lockout.
        user = authenticate(
            request,
            username=request.user.get_username(),
            password=request.POST.get("password", ""),
        )
        if user is not None and user.pk == request.user.pk:
            mark_confirmed(request)
            return HttpResponseRedirect(next_url)
        wrong = True
    return render(
        request,
        "step_up.html",
        {"next": next_url, "wrong": wrong, "minutes": settings.STEP_UP_MINUTES},
        status=400 if wrong else 200,
    )
