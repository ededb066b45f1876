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


class CredentialHidingFilter(SafeExceptionReporterFilter):
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
