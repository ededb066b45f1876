"""Names for the few queries written by hand (docs/architecture.md: the queries every read of a
conversation makes, which cost the ORM several times their run to build). Every table and column
comes from a model's metadata, quoted for the database in use; every value is a parameter."""

from django.db import connection, models


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str, alias: str = "") -> str:
    """The column of field `name` (`"id"` for the primary key), after `alias.` when given."""
    quoted = connection.ops.quote_name(model._meta.get_field(name).column)
    return f"{alias}.{quoted}" if alias else quoted


def columns(model: type[models.Model], *, leave_out: tuple[str, ...] = ()) -> str:
    """Every column a `raw()` query loads for `model`, but those of `leave_out` (left deferred)."""
    quote = connection.ops.quote_name
    return ", ".join(
        quote(field.column) for field in model._meta.concrete_fields if field.name not in leave_out
    )


def matching(model: type[models.Model], *names: str) -> str:
    """`a = %s AND b = %s` for the fields `names`, their values given as parameters."""
    return " AND ".join(f"{column(model, name)} = %s" for name in names)
