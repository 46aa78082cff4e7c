import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nir_portal.settings")
django_application = get_wsgi_application()

from nir_portal.allocator import tune_for_large_request_bodies  # noqa: E402

# Bounds every request body before Django reads it, under gunicorn and runserver alike (runserver
# loads this module through WSGI_APPLICATION). Imported after Django is set up: it reads settings.
from nir_portal.request_limits import RequestBodyLimitMiddleware  # noqa: E402

# Each web process (every gunicorn worker loads this module after it is forked) keeps the buffers
# that large request bodies pass through instead of faulting them in again on every read.
tune_for_large_request_bodies()

application = RequestBodyLimitMiddleware(django_application)
