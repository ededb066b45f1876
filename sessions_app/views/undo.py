"""The message after a successful edit, with an Undo link: the restore of its audit entry, which
previews what would change and asks before putting anything back."""

from django.contrib import messages
from django.http import HttpRequest

from ..models import AuditEntry

# The entry travels in the message's extra tags ("undo-42"), the one field Django's message
# storage keeps beside the text; templatetags/undo.py reads it back for the link.
UNDO_TAG_PREFIX = "undo-"


def edit_succeeded(request: HttpRequest, text: str, entry: AuditEntry) -> None:
    messages.success(request, text, extra_tags=f"{UNDO_TAG_PREFIX}{entry.pk}")
