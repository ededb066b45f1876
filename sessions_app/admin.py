from django.contrib import admin, messages
from django.db import models
from django.db.models import ProtectedError

from .admin_accounts import StepUpAdminMixin
from .admin_actions import (
    SECRET_FIELDS,
    do_delete_environment,
    do_delete_project,
    do_save_environment,
    do_save_project,
)
from .forms import BaseEnvironmentFormSet, EnvironmentForm, ProjectForm
from .models import AuditEntry, Environment, KnownSession, Project
from .personal_data import mask_entry, mask_known_session, may_see, shown_user_id


class ManageProjectsPermission:
    """Projects and credentials belong to the Admin role (manage_projects), here as on the pages."""

    def _may_manage(self, request) -> bool:
        return request.user.has_perm("sessions_app.manage_projects")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def has_module_permission(self, request) -> bool:
        return self._may_manage(request)


class PersonalDataMasking:
    """Rows shown to a reader without see_personal_data have personal data masked (in memory,
    never saved), on the list as on the change page, and their userIDs cannot be searched for
    by prefix: a search matches a whole userID only."""

    def mask(self, obj, user):
        raise NotImplementedError

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        return obj if obj is None else self.mask(obj, request.user)

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if may_see(request.user):
            return list_display

        def user_id(obj) -> str:
            return shown_user_id(obj.user_id, request.user)

        user_id.short_description = "userID"
        return [user_id if field == "user_id" else field for field in list_display]

    def get_search_fields(self, request):
        search_fields = super().get_search_fields(request)
        if may_see(request.user):
            return search_fields
        return ["=user_id" if field == "user_id" else field for field in search_fields]


class EnvironmentInline(ManageProjectsPermission, admin.TabularInline):
    model = Environment
    form = EnvironmentForm
    formset = BaseEnvironmentFormSet
    extra = 1


@admin.register(Project)
class ProjectAdmin(StepUpAdminMixin, ManageProjectsPermission, admin.ModelAdmin):
    form = ProjectForm
    inlines = [EnvironmentInline]
    list_display = [
        "name",
        "voiceflow_project_id",
        "runtime_url",
        "api_key_hint",
        "budget_per_minute",
    ]
    search_fields = ["name", "voiceflow_project_id"]
    readonly_fields = ["api_key_hint", "access_token_hint"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "voiceflow_project_id",
                    "runtime_url",
                    "budget_per_minute",
                    "crm_link_template",
                ]
            },
        ),
        (
            "Credentials (write-only: leave empty to keep what is stored)",
            {"fields": ["api_key_hint", "api_key", "access_token_hint", "access_token"]},
        ),
        (
            "Newer APIs",
            {
                "fields": [
                    "state_api",
                    "realtime_url",
                    "analytics_url",
                    "project_api_url",
                    "discovery_enabled",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        # Secrets stay deferred, so a project whose key no longer decrypts can still be fixed.
        return super().get_queryset(request).defer(*SECRET_FIELDS)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.access_token_hint:
            name, options = fieldsets[1]
            fieldsets = [
                fieldsets[0],
                (name, {"fields": [*options["fields"], "remove_access_token"]}),
                *fieldsets[2:],
            ]
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The secrets are the form's own write-only fields; listing them among the model fields
        # would let an empty box overwrite the stored key.
        kwargs["fields"] = ProjectForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        """Saved with its environments in save_related, through the audited action."""

    def save_related(self, request, form, formsets, change) -> None:
        environments = next((formset for formset in formsets if formset.model is Environment), None)
        do_save_project(
            form.instance,
            environments=environments,
            actor=request.user,
            source=AuditEntry.Source.ADMIN,
        )
        for warning in form.warnings:
            messages.warning(request, warning)

    def delete_model(self, request, obj) -> None:
        try:
            do_delete_project(obj, actor=request.user, source=AuditEntry.Source.ADMIN)
        except ProtectedError:
            messages.error(
                request, f"{obj.name} was not deleted: bulk jobs refer to its environments."
            )

    def delete_queryset(self, request, queryset) -> None:
        for project in queryset:
            self.delete_model(request, project)


@admin.register(Environment)
class EnvironmentAdmin(StepUpAdminMixin, ManageProjectsPermission, admin.ModelAdmin):
    form = EnvironmentForm
    list_display = ["label", "project", "version_id", "alias", "badge", "is_production"]
    list_filter = ["project", "badge", "is_production"]
    list_select_related = ["project"]
    fields = ["project", *EnvironmentForm.Meta.fields]

    def save_model(self, request, obj, form, change) -> None:
        do_save_environment(obj, actor=request.user, source=AuditEntry.Source.ADMIN)

    def delete_model(self, request, obj) -> None:
        try:
            do_delete_environment(obj, actor=request.user, source=AuditEntry.Source.ADMIN)
        except ProtectedError:
            messages.error(request, f"{obj} was not deleted: bulk jobs refer to it.")

    def delete_queryset(self, request, queryset) -> None:
        for environment in queryset:
            self.delete_model(request, environment)


@admin.register(AuditEntry)
class AuditEntryAdmin(PersonalDataMasking, admin.ModelAdmin):
    """The audit trail, for those who may read it. Nobody adds, changes or deletes a row here;
    only the retention task removes rows, once they are older than AUDIT_RETENTION_DAYS."""

    list_display = [
        "created_at",
        "actor_name",
        "action",
        "outcome",
        "project_name",
        "environment_label",
        "user_id",
        "source",
    ]
    list_filter = ["action", "outcome", "source"]
    search_fields = ["user_id", "actor_name"]
    date_hierarchy = "created_at"

    def mask(self, obj, user):
        return mask_entry(obj, user)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("sessions_app.view_audit")

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm("sessions_app.view_audit")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(KnownSession)
class KnownSessionAdmin(PersonalDataMasking, admin.ModelAdmin):
    """The index of userIDs the dashboard has seen: read by inspectors, pruned by admins."""

    list_display = ["user_id", "environment", "origin", "has_state", "last_seen_at", "current_flow"]
    list_filter = ["environment", "origin", "has_state"]
    list_select_related = ["environment__project"]
    search_fields = ["user_id"]

    def mask(self, obj, user):
        return mask_known_session(obj, user)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("sessions_app.inspect_session")

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm("sessions_app.inspect_session")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("sessions_app.manage_projects")
