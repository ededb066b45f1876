from django.urls import path

from .views import home, projects, workspace

urlpatterns = [
    path("", home.home, name="home"),
    path("workspace/environment", workspace.switch_environment, name="switch_environment"),
    path("projects/", projects.project_list, name="projects"),
    path("projects/new", projects.project_create, name="project_create"),
    path("projects/<int:pk>/edit", projects.project_edit, name="project_edit"),
    path("projects/<int:pk>/delete", projects.project_delete, name="project_delete"),
    path(
        "environments/<int:pk>/test-connection",
        projects.environment_test_connection,
        name="environment_test_connection",
    ),
]
