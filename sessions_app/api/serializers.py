"""What the API accepts and returns. Secrets are write-only: responses carry only their hints."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..flows.links import validate_crm_link_template
from ..forms import (
    validate_access_token,
    validate_alias,
    validate_api_key,
    validate_project_id,
    validate_version_id,
)
from ..models import AuditEntry, Environment, KnownSession, Project
from ..personal_data import mask_entry, mask_known_session
from ..voiceflow.address_guard import PrivateAddressRefused, check_base_url

# ---- projects and environments ----

# These values travel in HTTP headers to Voiceflow (Authorization, versionID, projectID), so they
# must be printable ASCII without spaces; anything else could never be sent.
header_value = RegexValidator(
    r"^[!-~]+\Z", "Use printable ASCII characters without spaces (it is sent in an HTTP header)."
)


class EnvironmentSerializer(serializers.ModelSerializer):
    version_id = serializers.CharField(
        max_length=64,
        required=False,
        validators=[header_value],
        help_text="Legacy API: development, staging, production or a literal version ID.",
    )
    alias = serializers.CharField(max_length=64, required=False, validators=[header_value])

    class Meta:
        model = Environment
        fields = [
            "id",
            "project",
            "label",
            "version_id",
            "alias",
            "realtime_version",
            "badge",
            "is_production",
        ]
        # `validate` checks the unique label with a message that names it.
        validators: list = []

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # An environment stays in its project; moving it would rewrite its history.
            fields["project"].read_only = True
        return fields

    def validate(self, attrs):
        project = attrs.get("project") or getattr(self.instance, "project", None)
        label = attrs.get("label")
        if project is not None and label is not None:
            clash = Environment.objects.filter(project=project, label=label)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(
                    {"label": f"The project already has an environment labelled {label!r}."}
                )
        return attrs

    # The same checks as the project pages' and Django admin's forms (sessions_app/forms.py).
    def validate_version_id(self, value: str) -> str:
        return validate_version_id(value)

    def validate_alias(self, value: str) -> str:
        return validate_alias(value)


class EnvironmentSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = ["id", "label", "version_id", "badge", "is_production"]


class ProjectSerializer(serializers.ModelSerializer):
    voiceflow_project_id = serializers.CharField(max_length=64, validators=[header_value])
    api_key = serializers.CharField(
        write_only=True,
        trim_whitespace=True,
        validators=[header_value],
        style={"input_type": "password"},
        help_text="The Dialog Manager API key (VF.DM.…). Write-only; responses show api_key_hint.",
    )
    access_token = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        validators=[header_value],
        style={"input_type": "password"},
        help_text="Optional personal access token. Write-only; an empty string removes it.",
    )
    budget_per_minute = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    environments = EnvironmentSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "voiceflow_project_id",
            "runtime_url",
            "realtime_url",
            "analytics_url",
            "project_api_url",
            "state_api",
            "discovery_enabled",
            "crm_link_template",
            "api_key",
            "api_key_hint",
            "access_token",
            "access_token_hint",
            "budget_per_minute",
            "is_sandbox",
            "environments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["api_key_hint", "access_token_hint", "is_sandbox"]

    def _checked_url(self, url: str, name: str) -> str:
        try:
            check_base_url(url, what=name)
        except PrivateAddressRefused as refusal:
            raise serializers.ValidationError(refusal.message) from refusal
        return url

    def validate_runtime_url(self, url: str) -> str:
        return self._checked_url(url, "runtime_url")

    def validate_realtime_url(self, url: str) -> str:
        return self._checked_url(url, "realtime_url")

    def validate_analytics_url(self, url: str) -> str:
        return self._checked_url(url, "analytics_url")

    # The same checks as the project pages' and Django admin's forms (sessions_app/forms.py).
    def validate_voiceflow_project_id(self, value: str) -> str:
        return validate_project_id(value)

    def validate_api_key(self, value: str) -> str:
        return validate_api_key(value)

    def validate_access_token(self, value: str) -> str:
        return validate_access_token(value)

    def validate_project_api_url(self, url: str) -> str:
        return self._checked_url(url, "project_api_url")

    def validate_crm_link_template(self, template: str) -> str:
        template = template.strip()
        try:
            validate_crm_link_template(template)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
        return template


class ConnectionCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


# ---- sessions ----


class SessionStateSerializer(serializers.Serializer):
    environment = serializers.IntegerField()
    user_id = serializers.CharField()
    etag = serializers.CharField(help_text="The fingerprint of `state`; also the ETag header.")
    state = serializers.DictField(
        help_text="Voiceflow's state: stack, storage, variables (and turn on reads). "
        "`{}` when the user has no state."
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Present when the userID is longer than the 128 characters hosted Voiceflow "
        "documents: it was used as given, but hosted Voiceflow may refuse it.",
    )


class SessionWriteSerializer(SessionStateSerializer):
    audit_entry = serializers.IntegerField(help_text="The audit record of this write.")


@extend_schema_field(
    {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "minLength": 1}, "payload": {}},
        "additionalProperties": True,
    }
)
class ActionField(serializers.DictField):
    """A Voiceflow request object; any extra keys (diagramID, time, metadata…) pass through."""


class InteractRequestSerializer(serializers.Serializer):
    action = ActionField(
        help_text='The request to send, e.g. {"type": "text", "payload": "large pepperoni"}; '
        "a button's `request` object is sent as is."
    )
    config = serializers.DictField(
        required=False, help_text="Voiceflow's interact config (tts, stripSSML, excludeTypes…)."
    )

    def validate_action(self, action: dict) -> dict:
        if not isinstance(action.get("type"), str) or not action["type"]:
            raise serializers.ValidationError('The action needs a type, e.g. {"type": "launch"}.')
        return action


class InteractResultSerializer(serializers.Serializer):
    traces = serializers.ListField(child=serializers.DictField())
    etag = serializers.CharField(help_text="The fingerprint of the state after the turn.")
    audit_entry = serializers.IntegerField()


class KnownSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = KnownSession
        fields = [
            "user_id",
            "origin",
            "has_state",
            "last_seen_at",
            "last_activity_at",
            "variables_snapshot",
            "stack_depth",
            "current_flow",
        ]

    def to_representation(self, instance):
        return super().to_representation(mask_known_session(instance, self.context["request"].user))


# ---- audit ----


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    environment_id = serializers.IntegerField(read_only=True, allow_null=True)
    project_id = serializers.IntegerField(read_only=True, allow_null=True)
    job_id = serializers.IntegerField(read_only=True, allow_null=True)
    restored_from_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "completed_at",
            "actor",
            "source",
            "action",
            "outcome",
            "project_id",
            "project_name",
            "environment_id",
            "environment_label",
            "user_id",
            "job_id",
            "state_before",
            "state_after",
            "request_sent",
            "upstream_status",
            "error",
            "restored_from_id",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        return super().to_representation(mask_entry(instance, self.context["request"].user))


# ---- tokens ----


class TokenSerializer(serializers.Serializer):
    prefix = serializers.CharField(
        source="token_key", help_text="The first characters of the token; its id in this API."
    )
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")


class TokenCreateSerializer(serializers.Serializer):
    username = serializers.CharField(
        required=False,
        help_text="With password: sign in here instead of with a session (a token cannot "
        "create tokens).",
    )
    password = serializers.CharField(required=False, style={"input_type": "password"})
    expires_in_days = serializers.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Leave out for no expiry."
    )

    def validate(self, attrs):
        if ("username" in attrs) != ("password" in attrs):
            raise serializers.ValidationError("Give both username and password, or neither.")
        return attrs


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(
        help_text="The token itself, shown this once. Send it as `Authorization: Token <token>`."
    )
    username = serializers.CharField()
