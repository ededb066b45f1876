"""The same role permissions as the pages: each API view names the codename each method needs."""

from rest_framework.permissions import BasePermission

from ..access import can


class RolePermission(BasePermission):
    """Allows a method when the caller holds `view.required_permissions[method]`.

    A method the view implements but does not list is refused, so a forgotten entry fails closed;
    one it does not implement passes through to a 405.
    """

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        codename = view.required_permissions.get(request.method)
        if codename is None and request.method in ("HEAD", "OPTIONS"):
            codename = view.required_permissions.get("GET")
        if codename is None:
            return not hasattr(view, request.method.lower())
        self.message = f"Your role does not allow this ({codename.replace('_', ' ')})."
        return can(request, codename)
