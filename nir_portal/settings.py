"""Settings for the NIR onboarding and clinical-safety portal.

Every value comes from the environment (see `.env.example` and the README). Defaults are
production-safe: DEBUG is off, and a production start without SECRET_KEY is refused.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_secret(name: str, default: str = "") -> str:
    """A secret from the file named by NAME_FILE (a Compose or Kubernetes secret, kept out of the
    process environment and `docker inspect`), otherwise from NAME itself."""
    path = env.str(f"{name}_FILE", default="")
    if not path:
        return env.str(name, default=default)
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        raise ImproperlyConfigured(f"{name}_FILE names {path}, which cannot be read: {error}") from error


DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("NIR_TESTING", default=False)

if DEBUG or TESTING:
    # Development and test runs only: a fixed, obviously unsafe key.
    SECRET_KEY = env_secret("SECRET_KEY", default="dev-only-insecure-key-" + "x" * 40)
else:
    SECRET_KEY = env_secret("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG or TESTING else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.forms",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "pgtrigger",
    "nir_portal.audit",
    "nir_portal.accounts",
    "nir_portal.mail",
    "onboarding",
    "certificates",
    "safety",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "nir_portal.sessions.SlidingSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "nir_portal.audit.middleware.AuditContextMiddleware",
    "nir_portal.accounts.middleware.MFARequiredMiddleware",
    "nir_portal.accounts.middleware.ActiveOrganisationMiddleware",
]

ROOT_URLCONF = "nir_portal.urls"
FORM_RENDERER = "nir_portal.forms.PortalFormRenderer"
WSGI_APPLICATION = "nir_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "nir_portal.accounts.context_processors.active_organisation",
                "nir_portal.context_processors.malware_signatures",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/nir_portal")}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Rate limits need a cache shared by every process; the database is the one always present.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

# --- Authentication ----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "nir_portal.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "nir_portal.accounts.adapters.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # accounts exist only by invitation to a known address
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("REAUTHENTICATION_SECONDS", default=300)
ACCOUNT_LOGIN_FAILED_LIMIT = env.str("LOGIN_FAILED_LIMIT", default="5/15m/key,20/5m/ip")
ACCOUNT_RATE_LIMITS = {
    "login_failed": ACCOUNT_LOGIN_FAILED_LIMIT,
    "login": "30/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "reauthenticate": "10/m/user",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[NIR portal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG or TESTING else "https"

ACCOUNT_FORMS = {
    name: f"nir_portal.accounts.allauth_forms.{form}"
    for name, form in {
        "login": "LoginForm",
        "reauthenticate": "ReauthenticateForm",
        "reset_password": "ResetPasswordForm",
        "reset_password_from_key": "ResetPasswordKeyForm",
        "change_password": "ChangePasswordForm",
        "set_password": "SetPasswordForm",
    }.items()
}
MFA_FORMS = {
    "activate_totp": "nir_portal.accounts.allauth_forms.ActivateTOTPForm",
    "authenticate": "nir_portal.accounts.allauth_forms.AuthenticateForm",
    "reauthenticate": "nir_portal.accounts.allauth_forms.MFAReauthenticateForm",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG or TESTING
MFA_TOTP_ISSUER = "NIR onboarding portal"
MFA_RECOVERY_CODE_COUNT = 10
# Recovery codes are shown once, when made (straight after the first authenticator is set up).
MFA_RECOVERY_CODES_SHOW_ONCE = True

SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
CIS2_SERVER_URL = env.str("CIS2_SERVER_URL", default="")
SOCIALACCOUNT_PROVIDERS = {}
if CIS2_SERVER_URL:
    if not env_secret("CIS2_CLIENT_SECRET"):
        raise ImproperlyConfigured("Set CIS2_CLIENT_SECRET (or CIS2_CLIENT_SECRET_FILE) when CIS2_SERVER_URL is set.")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "cis2",
                "name": "NHS CIS2",
                "client_id": env.str("CIS2_CLIENT_ID"),
                "secret": env_secret("CIS2_CLIENT_SECRET"),
                "settings": {
                    "server_url": CIS2_SERVER_URL,
                    "token_auth_method": env.str("CIS2_TOKEN_AUTH_METHOD", default="client_secret_post"),
                    "scope": env.list("CIS2_SCOPES", default=["openid", "email", "profile", "nationalrbacaccess"]),
                },
            }
        ],
    }

# Idle timeout: the session expires this many seconds after the last request. Rather than saving
# the session on every request, nir_portal.sessions saves an unchanged one when its stored expiry
# has fallen SESSION_REFRESH_SECONDS behind: it ends at most that much sooner, never later.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = False
SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# The database store (a DELETE ends a session at once in every process), remembering the expiry it read.
SESSION_ENGINE = "nir_portal.sessions"

# --- Security headers --------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not (DEBUG or TESTING))
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not (DEBUG or TESTING))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG or TESTING else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# How many proxies in front of the portal append to X-Forwarded-For; the client's address is the one
# the outermost of them saw (nir_portal.client_ip). 0: the header is ignored, the peer is the client.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    # The NHS.UK stylesheet is built without its outside font host (see the Makefile): pages load
    # nothing from another origin, so no outside request can hold up a page.
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- Static files and uploads ------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
FRONTEND_BUILD_DIR = BASE_DIR / "build" / "frontend"
STATICFILES_DIRS = [BASE_DIR / "static", FRONTEND_BUILD_DIR / "static"]
# The NHS.UK stylesheet refers to its images from the site root (/assets/images/...).
WHITENOISE_ROOT = FRONTEND_BUILD_DIR / "root"
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o640
# Where uploads are received. On the same filesystem as the evidence store, storing an upload is
# a rename rather than a copy of up to 250 MB (and, under Docker, /tmp is a tmpfs held in memory).
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default="") or None

# Evidence files are private: stored outside the static root and served only through a view.
EVIDENCE_MAX_FILE_BYTES = env.int("EVIDENCE_MAX_FILE_MB", default=250) * 1024 * 1024
EVIDENCE_ZIP_MAX_ENTRIES = env.int("EVIDENCE_ZIP_MAX_ENTRIES", default=1000)
EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES = env.int("EVIDENCE_ZIP_MAX_UNCOMPRESSED_BYTES", default=1024**3)
EVIDENCE_S3_BUCKET = env.str("EVIDENCE_S3_BUCKET", default="")
if EVIDENCE_S3_BUCKET:
    # Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role).
    STORAGES["evidence"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": EVIDENCE_S3_BUCKET,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["evidence"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "evidence", "directory_permissions_mode": 0o750},
    }
CLAMAV_URL = env.str("CLAMAV_URL", default="tcp://127.0.0.1:3310")  # or unix:///run/clamav/clamd.ctl
CLAMAV_TIMEOUT = env.float("CLAMAV_TIMEOUT", default=120.0)
# A scan that cannot reach the daemon is tried again after this many seconds, doubling each time.
CLAMAV_RETRY_SECONDS = env.float("CLAMAV_RETRY_SECONDS", default=10.0)
CLAMAV_RETRY_MAX_SECONDS = env.float("CLAMAV_RETRY_MAX_SECONDS", default=300.0)
# Set by `make run` when its clamd has only the development signatures: every page says so.
CLAMAV_DEVELOPMENT_SIGNATURES = env.bool("CLAMAV_DEVELOPMENT_SIGNATURES", default=False)

# --- Certificate register (certificates) ----------------------------------------------------------
# Issuers trusted when checking a registered certificate's chain, besides those registered as an
# issuing chain: a PEM file, or a folder of .pem/.crt files. Unset: only registered issuers count.
CERTIFICATE_TRUST_STORE = env.str("CERTIFICATE_TRUST_STORE", default="")
# A certificate with its chain is a few KiB; anything far larger is not one.
CERTIFICATE_MAX_FILE_BYTES = env.int("CERTIFICATE_MAX_FILE_KB", default=256) * 1024

# --- Clinical Safety Case Report bundles (safety/cscr) -------------------------------------------
# Signed bundles are private like evidence: stored apart from static files, served only through a view.
if EVIDENCE_S3_BUCKET:
    STORAGES["cscr"] = {**STORAGES["evidence"], "OPTIONS": {**STORAGES["evidence"]["OPTIONS"], "location": "cscr"}}
else:
    STORAGES["cscr"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": Path(env.str("CSCR_BUNDLE_DIR", default=str(MEDIA_ROOT / "cscr"))),
            "directory_permissions_mode": 0o750,
        },
    }
# The signing key: a PKCS#12 file, or a PEM key and certificate; the passphrase from the environment
# or a secret file (CSCR_SIGNING_PASSPHRASE_FILE), never from a file of the project. Without a key,
# DEBUG and test runs sign with a development key made in CSCR_SIGNING_DEV_DIR (manage.py
# create_signing_key); production refuses to sign.
CSCR_SIGNING_PKCS12_FILE = env.str("CSCR_SIGNING_PKCS12_FILE", default="")
CSCR_SIGNING_KEY_FILE = env.str("CSCR_SIGNING_KEY_FILE", default="")
CSCR_SIGNING_CERT_FILE = env.str("CSCR_SIGNING_CERT_FILE", default="")
CSCR_SIGNING_PASSPHRASE = env_secret("CSCR_SIGNING_PASSPHRASE")
CSCR_SIGNING_DEV_DIR = BASE_DIR / ".data" / "signing"
CSCR_TSA_URL = env.str("CSCR_TSA_URL", default="")  # RFC 3161 timestamp authority; signatures become PAdES-B-T
CSCR_INCLUDE_EVIDENCE_MAX_BYTES = env.int("CSCR_INCLUDE_EVIDENCE_MAX_BYTES", default=100 * 1024 * 1024)
CSCR_VERIFY_MAX_UPLOAD_BYTES = env.int(
    "CSCR_VERIFY_MAX_UPLOAD_BYTES", default=CSCR_INCLUDE_EVIDENCE_MAX_BYTES + 50 * 1024 * 1024
)
CSCR_MAX_ATTEMPTS = env.int("CSCR_MAX_ATTEMPTS", default=3)
CSCR_RECYCLE_AFTER_PAGES = env.int("CSCR_RECYCLE_AFTER_PAGES", default=40)  # a longer CSCR retires its worker process
CSCR_QUEUE = env.str("CSCR_QUEUE", default="")  # empty: Celery's default queue
# Test runs only: a pause inside the render, so a test can kill the worker mid-render.
CSCR_TEST_RENDER_DELAY_SECONDS = env.float("NIR_CSCR_TEST_RENDER_DELAY", default=0.0) if TESTING else 0.0

# --- Mail ---------------------------------------------------------------------------------------
# Production falls back to Django's own default (a local relay), never the console: console mail
# would write password-set links into the logs.
_email = env.email_url_config(
    env_secret("EMAIL_URL", default="consolemail://" if DEBUG or TESTING else "smtp://localhost:25")
)
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
    # A worker waiting on a silent server holds the message's row lock; give up and retry instead.
    "timeout": env.int("EMAIL_TIMEOUT_SECONDS", default=30),
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {k: v for k, v in _smtp_options.items() if v}
        if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NIR onboarding portal <no-reply@nir-portal.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Every message goes through a worker (nir_portal.mail); a message is retried with backoff (1, 2, 4 ...
# minutes, at most an hour apart) and marked failed after this many attempts, to be re-sent by hand.
MAIL_MAX_ATTEMPTS = env.int("MAIL_MAX_ATTEMPTS", default=10)

# --- Celery -------------------------------------------------------------------------------------
CELERY_LONGEST_TASK_SECONDS = 30 * 60
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Above the longest task, so a running task is never redelivered while it still runs.
        "visibility_timeout": CELERY_LONGEST_TASK_SECONDS + 15 * 60,
    }
else:
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(BASE_DIR / ".data" / "broker")))
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_LONGEST_TASK_SECONDS
CELERY_TASK_TIME_LIMIT = CELERY_LONGEST_TASK_SECONDS + 60
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_MAX_TASKS_PER_CHILD", default=50)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_MAX_MEMORY_PER_CHILD_KB", default=400_000)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "Europe/London"
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE", default=str(BASE_DIR / ".data" / "celerybeat-schedule"))
# nir_portal itself is not an installed app, so autodiscovery does not find its tasks module; the
# dashboards' task is listed too, so a beat-only process knows it.
CELERY_IMPORTS = ["nir_portal.tasks", "dashboards.tasks"]
# Every task declared with nir_portal.periodic.periodic_task, and only those (tests/test_periodic.py
# holds the two together). Daily jobs run at hours that exist exactly once on both clock-change days.
CELERY_BEAT_SCHEDULE: dict = {
    # Chains audit entries no writer has chained yet, well within audit.services.CHAIN_STALE_AFTER;
    # a sweep not run within its interval is dropped, not queued up behind a stopped worker.
    "audit-chain-sweep": {"task": "nir_portal.tasks.audit_chain_sweep", "schedule": 10.0, "options": {"expires": 10}},
    "audit-chain-check": {"task": "nir_portal.tasks.audit_chain_check", "schedule": crontab(hour=3, minute=15)},
    # Hourly: a rewrite of the audit chain is detectable back to the last signed checkpoint.
    "audit-checkpoint": {"task": "nir_portal.tasks.audit_checkpoint_take", "schedule": crontab(minute=5)},
    # Rows of sessions that have ended (their expiry passed) are removed.
    "sessions-clear-expired": {
        "task": "nir_portal.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=45),
    },
    # Before the working day, so reminders about evidence that expired overnight arrive with it.
    "evidence-expiry-and-reminders": {
        "task": "onboarding.tasks.evidence_daily_expiry_and_reminders",
        "schedule": crontab(hour=6, minute=0),
    },
    "reviewer-digests": {
        "task": "onboarding.tasks.reviewer_digests_send",
        "schedule": crontab(hour=7, minute=30, day_of_week="mon-fri"),
    },
    # Files left quarantined while the scanner was unreachable are scanned again without anyone acting.
    "evidence-rescan-quarantined": {
        "task": "onboarding.tasks.evidence_files_rescan_quarantined",
        "schedule": crontab(minute="*/10"),
    },
    # Mail whose task was never queued (broker down at commit) or whose retries were lost is sent again.
    "mail-send-stalled": {"task": "nir_portal.mail.tasks.mail_send_stalled", "schedule": crontab(minute="*/5")},
    # Mondays, for the week that has just ended (the go-live trend on the national dashboard).
    "dashboard-weekly-snapshot": {
        "task": "onboarding.dashboard_tasks.dashboard_weekly_snapshot",
        "schedule": crontab(hour=4, minute=30, day_of_week="mon"),
    },
    # Daily: expiry alerts at 90, 30, 14 and 7 days and on expiry, each sent once.
    "certificates-daily-check": {
        "task": "certificates.tasks.certificates_daily_check",
        "schedule": crontab(hour=6, minute=45),
    },
}

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- Logging ------------------------------------------------------------------------------------
# One JSON object per line in production, readable lines in development; each record carries the
# request id the audit trail records, in the web process and in every task the request queued
# (nir_portal/log.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG or TESTING else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "nir_portal.log.RequestContextFilter"}},
    "formatters": {
        "json": {"()": "nir_portal.log.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_context"], "formatter": LOG_FORMAT}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint reports every page it lays out at INFO: a line per page of every CSCR.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}
# Workers log through LOGGING above (the same format and request ids), not Celery's own set-up.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Portal -------------------------------------------------------------------------------------
PORTAL_SERVICE_NAME = "NIR onboarding and clinical safety"
# The national dashboard's content is cached per data fingerprint for this long (0: never cached).
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=60)
# A CSO whose professional registration was last checked longer ago than this cannot sign off.
CSO_REGISTRATION_CHECK_MONTHS = env.int("CSO_REGISTRATION_CHECK_MONTHS", default=12)
ADMIN_URL = env.str("ADMIN_URL", default="admin/")

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
