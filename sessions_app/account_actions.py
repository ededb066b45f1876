"""Changes to who may do what, audited in one place: API tokens created and revoked, roles and
administrative flags granted and taken away.

A token's row names its prefix (the id it is listed and revoked by), never the token itself.
"""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from .models import AuditEntry

# The flags of Django's user model that grant power by themselves.
PRIVILEGE_FLAGS = ("is_superuser", "is_staff", "is_active")


def _record(
    action: str, request_sent: dict, *, actor: AbstractBaseUser | None, source: str
) -> AuditEntry:
    signed_in = actor is not None and actor.is_authenticated
    return AuditEntry.objects.create(
        actor=actor if signed_in else None,
        actor_name=actor.get_username() if signed_in else "",
        source=source,
        action=action,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        completed_at=timezone.now(),
        request_sent=request_sent,
    )


@transaction.atomic
def do_create_token(
    user: AbstractBaseUser, *, expires_in_days: int | None, source: str
) -> tuple[AuthToken, str]:
    """A new token for `user`, who asked for it; the plain token is returned this once."""
    expiry = timedelta(days=expires_in_days) if expires_in_days else None
    token, plain = AuthToken.objects.create(user, expiry=expiry)
    _record(
        AuditEntry.Action.TOKEN_CREATED,
        {"prefix": token.token_key, "expires_in_days": expires_in_days},
        actor=user,
        source=source,
    )
    return token, plain


@transaction.atomic
def do_revoke_token(user: AbstractBaseUser, prefix: str, *, source: str) -> bool:
    """Revoke one of `user`'s own tokens; False when they have none with this prefix."""
    revoked, _ = AuthToken.objects.filter(user=user, token_key=prefix).delete()
    if revoked:
        _record(AuditEntry.Action.TOKEN_REVOKED, {"prefix": prefix}, actor=user, source=source)
    return bool(revoked)


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
    return _record(AuditEntry.Action.ROLE_CHANGED, change, actor=actor, source=source)


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
    return _record(AuditEntry.Action.ROLE_CHANGED, change, actor=actor, source=source)
