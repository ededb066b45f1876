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
