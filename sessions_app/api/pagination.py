from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` on every list; both bounded so a wild value is not sent to the database.
    The default limit is REST_FRAMEWORK's PAGE_SIZE."""

    max_limit = 500
    max_offset = 10**9

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)
