import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nir_portal.settings")

app = Celery("nir_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Connects the signals that carry a request's id into the tasks it queues (web and worker alike).
from nir_portal import log as _request_id_signals  # noqa: E402, F401
