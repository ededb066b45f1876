"""`message|undo_entry_id`: the audit entry whose restore undoes the edit a message reports."""

from django import template

from ..views.undo import UNDO_TAG_PREFIX

register = template.Library()


@register.filter
def undo_entry_id(message) -> int | None:
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith(UNDO_TAG_PREFIX) and tag[len(UNDO_TAG_PREFIX) :].isdigit():
            return int(tag[len(UNDO_TAG_PREFIX) :])
    return None
