"""The API tokens page: each person creates and revokes their own tokens; a new one is shown once."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .. import step_up
from ..account_actions import do_create_token, do_revoke_token
from ..api.views.tokens import tokens_of
from ..models import AuditEntry

EXPIRY_CHOICES = [("", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]
# The new token waits in the session only until the page after the redirect shows it, so a
# reload neither shows it again nor creates another one.
CREATED_KEY = "api_token_to_show"


def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, reverse("api_tokens"))
        days = request.POST.get("expires_in_days", "")
        if days in {value for value, _ in EXPIRY_CHOICES}:
            _, request.session[CREATED_KEY] = do_create_token(
                request.user,
                expires_in_days=int(days) if days else None,
                source=AuditEntry.Source.PAGE,
            )
            return redirect("api_tokens")
        messages.error(request, "Choose when the token expires.")
    return render(
        request,
        "tokens/list.html",
        {
            "tokens": tokens_of(request.user),
            "created_token": request.session.pop(CREATED_KEY, None),
            "expiry_choices": EXPIRY_CHOICES,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def token_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    if do_revoke_token(request.user, prefix, source=AuditEntry.Source.PAGE):
        messages.success(
            request, f"Token {prefix}… revoked; scripts using it are refused from now on."
        )
    else:
        messages.error(request, "You have no token with that prefix (already revoked?).")
    return redirect("api_tokens")
