"""Page lists that may hold millions of rows without counting them all.

Counting a million audit entries or known sessions costs more than the page itself (a whole
index or table scan, hundreds of milliseconds on PostgreSQL). The lists count at most
COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (… LIMIT n)`), and say "more than" beyond that.
"""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


def capped_count(queryset, cap: int = COUNT_CAP) -> int:
    """The number of rows, or cap + 1 when there are more than cap."""
    return queryset[: cap + 1].count()


class CappedPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        return capped_count(self.object_list)

    @property
    def count_is_capped(self) -> bool:
        return self.count > COUNT_CAP
