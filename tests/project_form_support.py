"""The projects page in tests: the key of `stored_project` (conftest.py), and the form as a browser
posts it back."""

from django import forms

STORED_PROJECT_API_KEY = "VF.DM.0123456789abcdef01234567.originalKeyOriginalKey01"


def posted(*forms_on_page, **changes) -> dict:
    """What a browser would post back from these forms, with `changes` typed in."""
    data: dict = {}
    for form in forms_on_page:
        for field in form:
            value = field.value()
            if isinstance(field.field, forms.BooleanField):
                if value:
                    data[field.html_name] = "on"
            elif value is not None:
                data[field.html_name] = value
    data.update(changes)
    return data


def submitted(response, **changes) -> dict:
    """What a browser would post back from the projects page in `response`."""
    environments = response.context["environments"]
    return posted(
        response.context["form"], environments.management_form, *environments.forms, **changes
    )
