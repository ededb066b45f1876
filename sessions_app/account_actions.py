"""Changes to who may do what, audited in one place: API tokens created and revoked, accounts
created, roles and administrative flags granted and taken away.

A token's row names its prefix (the id it is listed and revoked by), never the token itself; an
account's row never names its password.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from knox.models import AuthToken

from .audit import record
from .models import AuditEntry
from .roles import ROLE_NAMES

# The flags of Django's user model that grant power by themselves.
PRIVILEGE_FLAGS = ("is_superuser", "is_staff", "is_active")


@transaction.atomic
def do_create_token(
    user: AbstractBaseUser, *, expires_in_days: int | None, source: str
) -> tuple[AuthToken, str]:
    """A new token for `user`, who asked for it; the plain token is returned this once."""
    expiry = timedelta(days=expires_in_days) if expires_in_days else None
    token, plain = AuthToken.objects.create(user, expiry=expiry)
    record(
        AuditEntry.Action.TOKEN_CREATED,
        request_sent={"prefix": token.token_key, "expires_in_days": expires_in_days},
        actor=user,
        source=source,
    )
    return token, plain


@transaction.atomic
def do_revoke_token(user: AbstractBaseUser, prefix: str, *, source: str) -> bool:
    """Revoke one of `user`'s own tokens; False when they have none with this prefix."""
    revoked, _ = AuthToken.objects.filter(user=user, token_key=prefix).delete()
    if revoked:
        record(
            AuditEntry.Action.TOKEN_REVOKED,
            request_sent={"prefix": prefix},
            actor=user,
            source=source,
        )
    return bool(revoked)


# ---- a password changed: the account's API tokens are revoked ----

# Who is changing a password, for its audit row; unset outside the pages and Django admin (a
# management command such as `changepassword`, or a shell).
_password_changed_by: ContextVar[tuple[AbstractBaseUser | None, str] | None] = ContextVar(
    "password_changed_by", default=None
)


@contextmanager
def password_change_by(actor: AbstractBaseUser | None, *, source: str) -> Iterator[None]:
    """Password changes saved inside this block are audited as made by `actor` from `source`."""
    reset = _password_changed_by.set((actor, source))
    try:
        yield
    finally:
        _password_changed_by.reset(reset)


@receiver(post_save, sender=get_user_model())
def _revoke_tokens_on_password_change(sender, instance, created: bool, **kwargs) -> None:
    # `_password` holds the new raw password between set_password() and the end of save();
    # Django clears it before saving a mere re-hash at sign-in, which is no change.
    if created or getattr(instance, "_password", None) is None:
        return
    actor, source = _password_changed_by.get() or (None, AuditEntry.Source.CLI)
    do_record_password_change(instance, actor=actor, source=source)


@transaction.atomic
def do_record_password_change(
    account: AbstractBaseUser, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    """Revoke every API token of `account` (whoever knew the old password could have made one)
    and write a PASSWORD_CHANGED row naming the account and how many tokens were revoked."""
    revoked, _ = AuthToken.objects.filter(user=account).delete()
    return record(
        AuditEntry.Action.PASSWORD_CHANGED,
        request_sent={"user": account.get_username(), "tokens_revoked": revoked},
        actor=actor,
        source=source,
    )


def access_of(user: AbstractBaseUser) -> dict:
    """What a user holds now: role groups, direct permissions and privilege flags."""
    if user.pk is None:
        return {"groups": [], "permissions": [], **{flag: False for flag in PRIVILEGE_FLAGS}}
    return {
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        ),
        **{flag: getattr(user, flag) for flag in PRIVILEGE_FLAGS},
    }


def record_access_change(
    user: AbstractBaseUser,
    before: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    created: bool = False,
) -> AuditEntry | None:
    """A ROLE_CHANGED row for what differs between `before` and the user's access now."""
    after = access_of(user)
    change: dict = {"user": user.get_username()}
    if created:
        change["created"] = True
    for key in ("groups", "permissions"):
        granted = sorted(set(after[key]) - set(before[key]))
        revoked = sorted(set(before[key]) - set(after[key]))
        if granted:
            change[f"{key}_granted"] = granted
        if revoked:
            change[f"{key}_revoked"] = revoked
    flags = {flag: after[flag] for flag in PRIVILEGE_FLAGS if before[flag] != after[flag]}
    if flags:
        change["flags"] = flags
    if set(change) <= {"user", "created"}:
        return None
    return record(AuditEntry.Action.ROLE_CHANGED, request_sent=change, actor=actor, source=source)


def record_role_permissions_change(
    group: Group,
    before: list[str],
    *,
    actor: AbstractBaseUser | None,
    source: str,
) -> AuditEntry | None:
    """A ROLE_CHANGED row when a role group's permissions were edited."""
    after = sorted(group.permissions.values_list("codename", flat=True))
    granted = sorted(set(after) - set(before))
    revoked = sorted(set(before) - set(after))
    if not granted and not revoked:
        return None
    change: dict = {"role": group.name}
    if granted:
        change["permissions_granted"] = granted
    if revoked:
        change["permissions_revoked"] = revoked
    return record(AuditEntry.Action.ROLE_CHANGED, request_sent=change, actor=actor, source=source)


# ---- the Team page: accounts created, given a role, deactivated and reactivated ----

ADMIN_ROLE = ROLE_NAMES[-1]


class AccountChangeRefused(Exception):
    """A change to an account that was refused before anything was written; says why."""


def _role_groups() -> dict[str, Group]:
    return {group.name: group for group in Group.objects.filter(name__in=ROLE_NAMES)}


def _group_of(role: str | None, role_groups: dict[str, Group]) -> Group | None:
    if role is None:
        return None
    if role not in role_groups:
        raise AccountChangeRefused(
            f"The {role} role does not exist yet: run manage.py setup_roles."
        )
    return role_groups[role]


def _lock_admin_role() -> None:
    # Every change that can take the Admin role away locks its group row first, so two admins
    # demoting or deactivating each other at the same moment cannot both pass the last-admin
    # check (PostgreSQL; SQLite runs one writing transaction at a time anyway).
    list(Group.objects.select_for_update().filter(name=ADMIN_ROLE))


def _refuse_own_or_superuser(
    account: AbstractBaseUser, *, actor: AbstractBaseUser, own_change: str
) -> None:
    if account.pk == actor.pk:
        raise AccountChangeRefused(f"You cannot {own_change}; another admin can.")
    if account.is_superuser:
        raise AccountChangeRefused(
            f"{account.get_username()} is a superuser: superusers are changed in Django admin only."
        )


def _refuse_last_admin(account: AbstractBaseUser, verb: str) -> None:
    """Someone must be left who can manage the team (and projects) from the dashboard."""
    other_admins = (
        get_user_model()
        .objects.filter(Q(groups__name=ADMIN_ROLE) | Q(is_superuser=True), is_active=True)
        .exclude(pk=account.pk)
    )
    if not other_admins.exists():
        raise AccountChangeRefused(
            f"{account.get_username()} is the last active account with the Admin role and cannot "
            f"be {verb}; give another account the Admin role first."
        )


def _is_active_admin(account: AbstractBaseUser) -> bool:
    return account.is_active and account.groups.filter(name=ADMIN_ROLE).exists()


@transaction.atomic
def do_create_account(
    username: str, *, email: str, role: str | None, actor: AbstractBaseUser, source: str
) -> tuple[AbstractBaseUser, str]:
    """A new active account holding `role` (or none); its generated password is returned this
    once and never stored in plain."""
    role_group = _group_of(role, _role_groups())
    password = secrets.token_urlsafe(12)
    before = access_of(get_user_model()())
    account = get_user_model().objects.create_user(username, email=email, password=password)
    if role_group is not None:
        account.groups.add(role_group)
    record_access_change(account, before, actor=actor, source=source, created=True)
    return account, password


@transaction.atomic
def do_change_role(
    account: AbstractBaseUser, role: str | None, *, actor: AbstractBaseUser, source: str
) -> AuditEntry | None:
    """The account holds exactly `role` of the four afterwards (or none); its other groups stay.
    None when it held that role already."""
    _lock_admin_role()
    account.refresh_from_db()
    _refuse_own_or_superuser(account, actor=actor, own_change="change your own role")
    if role != ADMIN_ROLE and _is_active_admin(account):
        _refuse_last_admin(account, "demoted")
    role_groups = _role_groups()
    role_group = _group_of(role, role_groups)
    before = access_of(account)
    account.groups.remove(*(group for group in role_groups.values() if group != role_group))
    if role_group is not None:
        account.groups.add(role_group)
    return record_access_change(account, before, actor=actor, source=source)


@transaction.atomic
def do_set_active(
    account: AbstractBaseUser, active: bool, *, actor: AbstractBaseUser, source: str
) -> AuditEntry | None:
    """Deactivate (it can no longer sign in, nor use its API tokens) or reactivate an account.
    Accounts are never deleted here: audit rows name them. None when nothing changed."""
    _lock_admin_role()
    account.refresh_from_db()
    _refuse_own_or_superuser(account, actor=actor, own_change="deactivate your own account")
    if not active and _is_active_admin(account):
        _refuse_last_admin(account, "deactivated")
    before = access_of(account)
    account.is_active = active
    account.save(update_fields=["is_active"])
    return record_access_change(account, before, actor=actor, source=source)
