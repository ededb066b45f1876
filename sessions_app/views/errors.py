"""The 403 and 404 pages: in the base layout, saying what is missing, with a way back.

Wired in `voiceflow_admin/urls.py` (`handler403`, `handler404`); the 500 page is Django's own
handler with `templates/500.html`, rendered without the request, since whatever failed may be
what a request context needs.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from ..roles import highest_role


def back_url(request: HttpRequest) -> str:
    """The page the visitor came from, when it is on this site and not this page; else home."""
    referer = request.headers.get("Referer", "")
    if (
        referer
        and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        and referer != request.build_absolute_uri()
    ):
        return referer
    return reverse("home")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    user = request.user
    role = (
        highest_role(user.groups.values_list("name", flat=True)) if user.is_authenticated else None
    )
    context = {
        "message": str(exception) or "Your role does not allow this.",
        "permission": getattr(exception, "codename", ""),
        "roles": getattr(exception, "roles", []),
        "your_role": role,
        "back_url": back_url(request),
    }
    return render(request, "403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", {"back_url": back_url(request)}, status=404)
