from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..access import require
from ..models import Environment
from ..workspace import remember_environment


@require_POST
def switch_environment(request: HttpRequest) -> HttpResponseRedirect:
    require(request, "inspect_session")
    environment = get_object_or_404(Environment, pk=request.POST.get("environment") or 0)
    remember_environment(request, environment)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    return HttpResponseRedirect(next_url)
