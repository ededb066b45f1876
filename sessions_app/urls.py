from django.urls import path

from .views import home, workspace

urlpatterns = [
    path("", home.home, name="home"),
    path("workspace/environment", workspace.switch_environment, name="switch_environment"),
]
