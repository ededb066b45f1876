from rest_framework.request import Request

from .errors import InvalidInput

MAX_ID = 10**18 - 1


def query_id(request: Request, name: str) -> int | None:
    """An id given as a query parameter (`?project=3`), None when absent; else 400 validation."""
    value = request.query_params.get(name, "")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise InvalidInput(f"{name} must be an id (a whole number).", details={name: [value[:100]]})
    return int(value)


# Accepted on every list besides its own filters: the pagination (api/pagination.py) and DRF's
# format override.
LIST_PARAMETERS = ("limit", "offset", "format")


class KnownFiltersOnly:
    """A list endpoint that answers 400 to a query parameter it does not know. Ignoring it would
    answer with everything (`?job=4` on a list that cannot filter by job), which a script takes
    for the filtered list. `known_filters` names the endpoint's own filters."""

    known_filters: tuple[str, ...] = ()

    def list(self, request: Request, *args, **kwargs):
        unknown = sorted(set(request.query_params) - {*self.known_filters, *LIST_PARAMETERS})
        if unknown:
            known = ", ".join((*self.known_filters, "limit", "offset")) or "limit, offset"
            raise InvalidInput(
                f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(name[:50] for name in unknown[:10])}. This list takes: {known}.",
                details={name[:50]: ["Unknown query parameter."] for name in unknown[:10]},
            )
        return super().list(request, *args, **kwargs)
