import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")

app = Celery("voiceflow_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Bulk job tasks live one level down (sessions_app/bulk/tasks.py).
app.autodiscover_tasks(["sessions_app.bulk"])
