"""Step-up confirmation: high-impact work needs the password entered within STEP_UP_MINUTES.

Reset jobs, preloads and undo jobs of more than STEP_UP_PRELOAD_THRESHOLD rows, credential
changes (creating, editing or deleting a project, creating an API token) and role changes ask
for it. The confirmation belongs to the browser session in which the password was typed, not to
the account, so a second session (a stolen cookie, another browser) does not inherit it. Signing
in with the password counts as a confirmation, as in other admin tools' "sudo mode".

Token-authenticated API calls are not asked: a token is deliberate automation whose creation
needed a fresh password, and the role permissions still apply. Session-authenticated API calls
(a browser, the docs page) are asked like pages (docs/security.md).
"""

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from rest_framework.authentication import SessionAuthentication

from .models import BulkJob

SESSION_KEY = "step_up_confirmed_at"


def is_fresh(request: HttpRequest) -> bool:
    confirmed_at = request.session.get(SESSION_KEY)
    if not isinstance(confirmed_at, int | float):
        return False
    return time.time() - confirmed_at < settings.STEP_UP_MINUTES * 60


def mark_confirmed(request: HttpRequest) -> None:
    request.session[SESSION_KEY] = time.time()


@receiver(user_logged_in)
def _signing_in_confirms(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        mark_confirmed(request)


def job_needs_step_up(job: BulkJob) -> bool:
    if job.kind in (BulkJob.Kind.RESET, BulkJob.Kind.REMOVE_VARIABLES):
        return True
    return job.total_items > settings.STEP_UP_PRELOAD_THRESHOLD


def confirm_url(next_url: str) -> str:
    return f"{reverse('step_up')}?{urlencode({'next': next_url})}"


def redirect_to_confirm(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    if request.method == "POST":
        messages.warning(
            request,
            "Nothing was done yet: confirm your password, then do it again "
            f"(asked once every {settings.STEP_UP_MINUTES} minutes for high-impact work).",
        )
    return HttpResponseRedirect(confirm_url(next_url))


# The password field of a form that confirms and acts in one step (`confirm_and_continue`).
PASSWORD_FIELD = "step_up_password"  # noqa: S105 (a field name)


def confirm_and_continue(
    request: HttpRequest, *, action: str, cancel_url: str
) -> HttpResponse | None:
    """For a POST that needs a fresh confirmation: None when it may go on (the confirmation is
    fresh, or the POST carries the right password, which confirms it); otherwise the page that
    asks for the password, carrying the form's own fields, so that confirming does the action
    at once instead of leading back to the form (as GitHub's sudo mode replays the request).
    """
    if is_fresh(request):
        return None
    wrong = False
    if PASSWORD_FIELD in request.POST:
        # Through the authentication backends, so failures count towards the sign-in lockout.
        user = authenticate(
            request,
            username=request.user.get_username(),
            password=request.POST.get(PASSWORD_FIELD, ""),
        )
        if user is not None and user.pk == request.user.pk:
            mark_confirmed(request)
            return None
        wrong = True
    carried = [
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", PASSWORD_FIELD)
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "step_up_continue.html",
        {
            "action": action,
            "action_url": request.path,
            "carried": carried,
            "cancel_url": cancel_url,
            "password_field": PASSWORD_FIELD,
            "wrong": wrong,
            "minutes": settings.STEP_UP_MINUTES,
        },
        status=400 if wrong else 200,
    )


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that changes credentials or roles: confirmed before its form is even shown.

    A POST whose confirmation ran out while the form was open is refused (nothing done) and the
    operator returns to the form after confirming.
    """

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_fresh(request):
            return redirect_to_confirm(request, request.path)
        return view(request, *args, **kwargs)

    return guarded


def api_caller_needs_step_up(request) -> bool:
    """True for a browser-session API call whose confirmation is missing or stale."""
    return isinstance(
        getattr(request, "successful_authenticator", None), SessionAuthentication
    ) and not is_fresh(request)
