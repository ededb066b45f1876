from rest_framework.pagination import LimitOffsetPagination

from ..pagination import COUNT_CAP, capped_count


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` on every list; both bounded so a wild value is not sent to the database.
    The default limit is REST_FRAMEWORK's PAGE_SIZE."""

    max_limit = 500
    max_offset = 10**9

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)

    def get_count(self, queryset) -> int:
        """Exact up to 10,000 rows past this page; beyond, one more than that (`next` stays
        right): a million-row count would cost more than the page (sessions_app/pagination.py)."""
        if not hasattr(queryset, "query"):
            return len(queryset)
        cap = self.get_offset(self.request) + self.limit + COUNT_CAP
        return capped_count(queryset, cap)
