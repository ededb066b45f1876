"""Django admin's user and group pages, audited and behind step-up confirmation.

Granting a role (a group), a permission or the superuser/staff flag is as powerful as changing
a key, so these pages ask for the password like the credential pages, and every save writes a
ROLE_CHANGED audit row naming what was granted and revoked.
"""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from . import step_up
from .account_actions import (
    PRIVILEGE_FLAGS,
    access_of,
    password_change_by,
    record_access_change,
    record_role_permissions_change,
)
from .models import AuditEntry


class StepUpAdminMixin:
    """Adding, changing and deleting through this admin page need a fresh password."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, request.get_full_path())
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, request.get_full_path())
        return super().delete_view(request, object_id, extra_context)

    def changelist_view(self, request, extra_context=None):
        # An action run on the selected rows ("delete selected") is as high-impact as the same
        # change made one object at a time. Nothing is done until the password is confirmed.
        if request.method == "POST" and "action" in request.POST and not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, request.get_full_path())
        return super().changelist_view(request, extra_context)


class AuditedUserAdmin(StepUpAdminMixin, UserAdmin):
    def user_change_password(self, request, id, form_url=""):
        """Setting a password (another user's, or a superuser's own): step-up first, then an
        audit row, and the account's API tokens are revoked (account_actions)."""
        if not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, request.get_full_path())
        with password_change_by(request.user, source=AuditEntry.Source.ADMIN):
            return super().user_change_password(request, id, form_url)

    def save_related(self, request, form, formsets, change) -> None:
        # The user row is saved already; its groups and permissions are saved here.
        before = access_of(form.instance) if change else access_of(User())
        if change:
            before.update({flag: form.initial.get(flag, False) for flag in PRIVILEGE_FLAGS})
        super().save_related(request, form, formsets, change)
        record_access_change(
            form.instance,
            before,
            actor=request.user,
            source=AuditEntry.Source.ADMIN,
            created=not change,
        )

    def delete_model(self, request, obj) -> None:
        before = access_of(obj)
        super().delete_model(request, obj)
        record_access_change(obj, before, actor=request.user, source=AuditEntry.Source.ADMIN)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            self.delete_model(request, user)


class AuditedGroupAdmin(StepUpAdminMixin, GroupAdmin):
    def save_related(self, request, form, formsets, change) -> None:
        before = (
            sorted(form.instance.permissions.values_list("codename", flat=True)) if change else []
        )
        super().save_related(request, form, formsets, change)
        record_role_permissions_change(
            form.instance, before, actor=request.user, source=AuditEntry.Source.ADMIN
        )


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)
