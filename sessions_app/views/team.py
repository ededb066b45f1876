"""The Team page: accounts and their roles (Admin role). Every change needs a fresh password and
is audited; a new account's generated password is shown once. The role and activation forms sit
on the list, so a stale confirmation leads back to the list after confirming."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import step_up
from ..access import require
from ..account_actions import AccountChangeRefused, do_change_role, do_create_account, do_set_active
from ..forms import ROLE_CHOICES, NewAccountForm, RoleForm
from ..models import AuditEntry
from ..roles import highest_role

MANAGE = "manage_team"
# The new account's password waits in the session only until the page after the redirect shows
# it, so a reload neither shows it again nor creates another account.
CREATED_KEY = "new_account_to_show"


def team_list(request: HttpRequest) -> HttpResponse:
    require(request, MANAGE)
    accounts = get_user_model().objects.order_by("username").prefetch_related("groups")
    return render(
        request,
        "team/list.html",
        {
            "accounts_and_roles": [
                (account, highest_role(group.name for group in account.groups.all()))
                for account in accounts
            ],
            "role_choices": ROLE_CHOICES,
            "created_account": request.session.pop(CREATED_KEY, None),
        },
    )


@require_http_methods(["GET", "POST"])
@step_up.step_up_required
def team_new(request: HttpRequest) -> HttpResponse:
    require(request, MANAGE)
    form = NewAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account, password = do_create_account(
                form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
                source=AuditEntry.Source.PAGE,
            )
        except AccountChangeRefused as refusal:
            messages.error(request, f"No account was created. {refusal}")
        else:
            request.session[CREATED_KEY] = {
                "username": account.get_username(),
                "password": password,
            }
            return redirect("team")
    return render(
        request,
        "team/new.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def team_role(request: HttpRequest, account_id: int) -> HttpResponse:
    require(request, MANAGE)
    if not step_up.is_fresh(request):
        return step_up.redirect_to_confirm(request, reverse("team"))
    account = get_object_or_404(get_user_model(), pk=account_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing changed: choose one of the roles, or no role.")
        return redirect("team")
    role = form.cleaned_data["role"]
    try:
        do_change_role(account, role, actor=request.user, source=AuditEntry.Source.PAGE)
    except AccountChangeRefused as refusal:
        messages.error(request, f"Nothing changed. {refusal}")
    else:
        held = f"the {role} role" if role else "no role"
        messages.success(request, f"{account.get_username()} now holds {held}.")
    return redirect("team")


@require_POST
def team_set_active(request: HttpRequest, account_id: int, active: bool) -> HttpResponse:
    require(request, MANAGE)
    if not step_up.is_fresh(request):
        return step_up.redirect_to_confirm(request, reverse("team"))
    account = get_object_or_404(get_user_model(), pk=account_id)
    try:
        do_set_active(account, active, actor=request.user, source=AuditEntry.Source.PAGE)
    except AccountChangeRefused as refusal:
        messages.error(request, f"Nothing changed. {refusal}")
    else:
        outcome = (
            "reactivated: they can sign in again"
            if active
            else "deactivated: they can no longer sign in or use their API tokens"
        )
        messages.success(request, f"{account.get_username()} {outcome}.")
    return redirect("team")
