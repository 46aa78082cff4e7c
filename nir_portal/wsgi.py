import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nir_portal.settings")
django_application = get_wsgi_application()

# Bounds every request body before Django reads it, under gunicorn and runserver alike (runserver
# loads this module through WSGI_APPLICATION). Imported after Django is set up: it reads settings.
from nir_portal.request_limits import RequestBodyLimitMiddleware  # noqa: E402

application = RequestBodyLimitMiddleware(django_application)
