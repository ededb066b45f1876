"""Each person changes their own password: the current one is asked, other browsers signed in
as them are signed out (Django's session hash follows the password), this one stays signed in."""

from django.contrib.auth import views as auth_views
from django.contrib.messages.views import SuccessMessageMixin
from django.urls import reverse_lazy


class PasswordChange(SuccessMessageMixin, auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("home")
    success_message = "Your password was changed; other browsers signed in as you were signed out."
