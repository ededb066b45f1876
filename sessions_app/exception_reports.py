"""Exception reports (Django's error e-mails, any handler built on ExceptionReporter) never carry
a Voiceflow key or token.

Django hides the local variables of functions marked `sensitive_variables` and settings whose
names look secret. A failure deep inside the HTTP library still has the request's headers among
its frames' variables, so this filter also hides any variable whose text holds a credential.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# A Dialog Manager key, a personal access token, or an Authorization header however it is held.
CREDENTIAL_PATTERN = re.compile(r"VF\.DM\.|vfp_|Bearer\s|authorization", re.IGNORECASE)


# Form fields that carry a secret, whatever their value looks like.
SECRET_FIELD_PATTERN = re.compile(r"key|token|password|secret", re.IGNORECASE)


class CredentialHidingFilter(SafeExceptionReporterFilter):
    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not parameters:
            return parameters
        cleansed = parameters.copy()
        for name, value in parameters.items():
            if SECRET_FIELD_PATTERN.search(name) or _holds_credential(value):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute if _holds_credential(value) else value)
            for name, value in variables
        ]


def _holds_credential(value) -> bool:
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a repr that fails cannot leak anything either
        return False
    return bool(CREDENTIAL_PATTERN.search(text))
