"""Step-up confirmation in tests: a session whose password confirmation is some minutes old, and
the confirmation page a stale session is sent to."""

import time
from urllib.parse import urlencode

from django.urls import reverse

from sessions_app.step_up import SESSION_KEY


def confirmed_minutes_ago(client, minutes: float) -> None:
    session = client.session
    session[SESSION_KEY] = time.time() - minutes * 60
    session.save()


def confirm_url(next_url: str) -> str:
    return f"{reverse('step_up')}?{urlencode({'next': next_url})}"
