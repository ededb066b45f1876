"""Each person changes their own password: the current one is asked, other browsers signed in
as them are signed out (Django's session hash follows the password), this one stays signed in,
and their API tokens are revoked (account_actions; audited)."""

from django.contrib.auth import views as auth_views
from django.contrib.messages.views import SuccessMessageMixin
from django.urls import reverse_lazy

from ..account_actions import password_change_by
from ..models import AuditEntry


class PasswordChange(SuccessMessageMixin, auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("home")
    success_message = (
        "Your password was changed; other browsers signed in as you were signed out, and your "
        "API tokens were revoked (create new ones under API tokens)."
    )

    def form_valid(self, form):
        with password_change_by(self.request.user, source=AuditEntry.Source.PAGE):
            return super().form_valid(form)
