#!/bin/sh
# Entry point of the portal's image. The first argument names a process:
#   web          gunicorn on 0.0.0.0:$PORT (the default)
#   migrate      apply migrations and create the database cache table, then exit
#   healthcheck  exit 0 only when /healthz reports the database, cache and broker as ok
# Anything else runs as given, e.g. `celery -A nir_portal worker ...` or `python manage.py shell`.
set -eu

command="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
    web)
        # Uploads are received on the media volume, so that storing one is a rename (a volume
        # created before this folder existed in the image lacks it).
        if [ -n "${FILE_UPLOAD_TEMP_DIR:-}" ]; then mkdir -p "$FILE_UPLOAD_TEMP_DIR"; fi
        # Web workers are recycled too, so a slow leak cannot grow without bound.
        exec gunicorn nir_portal.wsgi:application \
            --bind "0.0.0.0:${PORT:-8000}" \
            --workers "${WEB_CONCURRENCY:-2}" \
            --threads "${WEB_THREADS:-4}" \
            --worker-tmp-dir /dev/shm \
            --max-requests 1000 \
            --max-requests-jitter 100 \
            --timeout 60 \
            --graceful-timeout 30 \
            --access-logfile - \
            --error-logfile - \
            "$@"
        ;;
    migrate)
        python manage.py migrate --no-input
        # A no-op while Redis is the cache; needed when a deployment runs without it.
        exec python manage.py createcachetable
        ;;
    healthcheck)
        # gunicorn sits behind the TLS proxy, so the probe presents itself as the proxy would: an
        # allowed host name and X-Forwarded-Proto (trusted only when BEHIND_TLS_PROXY=true).
        exec python - <<'PY'
import os
import sys
import urllib.request

hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip() not in ("", "*")]
host = hosts[0].lstrip(".") if hosts else "localhost"
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz",
    headers={"Host": host, "X-Forwarded-Proto": "https"},
)
try:
    with urllib.request.urlopen(request, timeout=8) as response:  # noqa: S310  (fixed local URL)
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # noqa: BLE001  (any failure means unhealthy)
    print(f"healthcheck failed: {exc}", file=sys.stderr)
    sys.exit(1)
PY
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
