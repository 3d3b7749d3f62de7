"""cloudsite settings: one module, every value from the environment.

With nothing set, the app runs on embedded defaults: SQLite under ``var/``, files under
``var/media``, e-mail printed to the console, Celery tasks run eagerly, verification tokens in the
database. Every AWS-backed part is switched on by configuration, never by code edits. A ``.env``
file at the repository root is read when present (never committed).
"""
import importlib.util
from pathlib import Path

import environ

from cloudsite.secret_key import load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CLOUDSITE_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or load_or_create_secret_key(VAR_DIR)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind the load balancer: trust its X-Forwarded-Proto and this many X-Forwarded-For hops.
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
NUM_PROXIES = env.int("CLOUDSITE_NUM_PROXIES", default=0)

INSTALLED_APPS = [
    "cloudsite.apps.CloudsiteConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "files",
    "provisioning",
]
# The development kit (manage.py local_cloud, the tests' machinery) is never shipped to instances
# (deploy/bundle.py leaves devkit/ out): added only where it is importable, i.e. in a checkout.
if importlib.util.find_spec("devkit") is not None:
    INSTALLED_APPS.append("devkit.apps.DevkitConfig")

MIDDLEWARE = [
    "cloudsite.metrics.StatsdMiddleware",
    "cloudsite.request_log.RequestLogMiddleware",
    "cloudsite.metrics.EndpointMetricsMiddleware",
    # Before anything that calls request.get_host(): the load balancer health-checks with the
    # target's IP as Host, which ALLOWED_HOSTS does not list (cloudsite.middleware).
    "cloudsite.middleware.HealthCheckMiddleware",
    "cloudsite.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After the two above, so that its 403 carries their headers; before any view runs.
    "cloudsite.cross_site.CrossSiteRequestMiddleware",
    "cloudsite.db_router.PrimaryPinningMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_statsd.middleware.StatsdMiddlewareTimer",
]

ROOT_URLCONF = "cloudsite.urls"
WSGI_APPLICATION = "cloudsite.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases ------------------------------------------------------------------------------
from cloudsite.databases import database_config  # noqa: E402  (needs env and VAR_DIR above)

# With DATABASE_SECRET_ARN the URLs carry no password: the backend reads it from the secret.
_database_options = {
    "ca_bundle": env.str("DATABASE_CA_BUNDLE", default=""),
    "secret_arn": env.str("DATABASE_SECRET_ARN", default=""),
    "secret_ttl": env.int("CLOUDSITE_DATABASE_SECRET_TTL", default=300),
    "conn_max_age": env.int("DATABASE_CONN_MAX_AGE", default=60),
}
DATABASES = {
    "default": database_config(
        env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), **_database_options
    )
}
_replica_url = env.str("DATABASE_REPLICA_URL", default="")
if _replica_url:
    DATABASES["replica"] = database_config(_replica_url, **_database_options)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["cloudsite.db_router.PrimaryReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: the verified-credential cache and the failure throttle live here ---------------
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://cloudsite")}

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
SILENCED_SYSTEM_CHECKS = ["auth.W004"]  # see accounts.backends
PASSWORD_HASHERS = [
    "accounts.hashers.SmallInstanceArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Verified-credential cache for HTTP Basic: seconds a proven (username, password) pair is trusted
# without re-hashing; 0 switches the cache off.
AUTH_CACHE_TTL = env.int("CLOUDSITE_AUTH_CACHE_TTL", default=300)
# Failed Basic attempts allowed per window, per username and per client address.
AUTH_FAILURE_WINDOW = env.int("CLOUDSITE_AUTH_FAILURE_WINDOW", default=300)
AUTH_FAILURES_PER_USERNAME = env.int("CLOUDSITE_AUTH_FAILURES_PER_USERNAME", default=10)
AUTH_FAILURES_PER_ADDRESS = env.int("CLOUDSITE_AUTH_FAILURES_PER_ADDRESS", default=50)

# --- E-mail verification --------------------------------------------------------------------
PUBLIC_BASE_URL = env.str("CLOUDSITE_PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
VERIFICATION_TOKEN_TTL = env.int("CLOUDSITE_VERIFICATION_TOKEN_TTL", default=300)
VERIFICATION_RESEND_COOLDOWN = env.int("CLOUDSITE_VERIFICATION_RESEND_COOLDOWN", default=60)
# AWS mode switches on by configuration: a table name selects the DynamoDB token store, a topic
# ARN the SNS dispatcher (whose Lambda sends the e-mail through SES).
VERIFICATION_TABLE = env.str("CLOUDSITE_VERIFICATION_TABLE", default="")
VERIFICATION_TOPIC_ARN = env.str("CLOUDSITE_VERIFICATION_TOPIC_ARN", default="")
VERIFICATION_TOKEN_STORE = env.str(
    "CLOUDSITE_VERIFICATION_TOKEN_STORE",
    default="accounts.verification.dynamodb_store.DynamoDBTokenStore" if VERIFICATION_TABLE
    else "accounts.verification.store.DatabaseTokenStore",
)
VERIFICATION_DISPATCHER = env.str(
    "CLOUDSITE_VERIFICATION_DISPATCHER",
    default="accounts.verification.sns_dispatch.SNSDispatcher" if VERIFICATION_TOPIC_ARN
    else "accounts.verification.dispatch.EmailDispatcher",
)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="cloudsite.mail.ConsoleEmailBackend")  # stderr
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cloudsite <no-reply@localhost>")

# --- AWS ------------------------------------------------------------------------------------
# Endpoints come from botocore's standard AWS_ENDPOINT_URL variables; credentials from the
# instance role (or the usual AWS variables / profile).
AWS_REGION = env.str("AWS_REGION", default=env.str("AWS_DEFAULT_REGION", default="us-east-1"))

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# In AWS the broker is SQS (CELERY_BROKER_URL=sqs://, credentials from the instance role) and the
# queue is the one the pipeline layer made, named by its URL.
if CELERY_BROKER_URL.startswith("sqs://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "region": AWS_REGION,
        "predefined_queues": {
            CELERY_TASK_DEFAULT_QUEUE: {"url": env.str("CLOUDSITE_SQS_QUEUE_URL")}
        },
    }

# --- Requests -------------------------------------------------------------------------------
# Largest JSON (non-multipart) request body accepted; larger ones get 413 before being read.
JSON_BODY_MAX_BYTES = env.int("CLOUDSITE_JSON_BODY_MAX_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = JSON_BODY_MAX_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.CachedBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsVerified"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "cloudsite.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cloudsite API",
    "DESCRIPTION": "Users, e-mail verification and profile pictures. HTTP Basic auth "
    "(username = e-mail address).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Internationalisation, static files -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# --- Files: profile pictures ----------------------------------------------------------------
# S3 mode when a bucket is named (private objects, SSE-KMS, SigV4; AWS_ENDPOINT_URL redirects it
# like every boto3 client); otherwise the file system under MEDIA_ROOT.
from files.conf import s3_storage  # noqa: E402  (plain values, no Django imports)

FILES_S3_BUCKET = env.str("CLOUDSITE_S3_BUCKET", default="")
FILES_S3_KMS_KEY_ID = env.str("CLOUDSITE_S3_KMS_KEY_ID", default="")
FILES_S3_REGION = env.str(
    "CLOUDSITE_S3_REGION", default=env.str("AWS_REGION", default=env.str("AWS_DEFAULT_REGION", default="us-east-1"))
)
# Largest picture accepted (bytes); larger uploads get 413. 10 MiB holds any real profile photo
# (a 24-megapixel JPEG is 5-12 MB) while bounding disk, S3 and worker time per request.
FILES_UPLOAD_MAX_BYTES = env.int("CLOUDSITE_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# Seconds a presigned download link works.
FILES_DOWNLOAD_URL_TTL = env.int("CLOUDSITE_DOWNLOAD_URL_TTL", default=300)
# Uploads above this go to a temporary file (Django's default, 2.5 MB), never whole into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("CLOUDSITE_UPLOAD_MAX_MEMORY_BYTES", default=2621440)
if FILES_S3_BUCKET:
    STORAGES["default"] = s3_storage(
        FILES_S3_BUCKET, FILES_S3_REGION, FILES_S3_KMS_KEY_ID, FILES_DOWNLOAD_URL_TTL
    )

# --- Observability --------------------------------------------------------------------------
# StatsD (the CloudWatch agent listens on 127.0.0.1:8125 on the instances). No host, no packets.
CLOUDSITE_STACK = env.str("CLOUDSITE_STACK", default="local")
STATSD_HOST = env.str("STATSD_HOST", default="")
STATSD_PORT = env.int("STATSD_PORT", default=8125)
STATSD_DISABLED = not STATSD_HOST
STATSD_PREFIX = env.str("STATSD_PREFIX", default=f"cloudsite.{CLOUDSITE_STACK}")
STATSD_TRACK_DATABASE = True
STATSD_VIEWS_TO_SKIP = [r"django\.contrib\.admin", r"django\.contrib\.staticfiles"]

# JSON logs, one object a line, to stdout and (LOG_FILE) to a file the CloudWatch agent ships.
LOG_FILE = env.str("LOG_FILE", default="")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "cloudsite.request_log.RequestContextFilter"}},
    "formatters": {"json": {"()": "cloudsite.request_log.Formatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                    "formatter": "json", "filters": ["request_context"]},
        **({"file": {"class": "logging.handlers.WatchedFileHandler", "filename": LOG_FILE,
                     "formatter": "json", "filters": ["request_context"]}} if LOG_FILE else {}),
    },
    "root": {"handlers": ["console", *(["file"] if LOG_FILE else [])],
             "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # 4xx answers are the client's business; the access line already records them.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
        "botocore": {"level": "WARNING"},
        "statsd": {"level": "WARNING"},  # python-statsd logs every packet at INFO
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Throttles and the shared cache (issue #17) ---------------------------------------------
# Failed sign-ins for one username across every client address (the per-username counter above
# is per username *and* address, so an attacker cannot lock the owner out from elsewhere).
AUTH_FAILURES_PER_USERNAME_ANY_ADDRESS = env.int(
    "CLOUDSITE_AUTH_FAILURES_PER_USERNAME_ANY_ADDRESS", default=10 * AUTH_FAILURES_PER_USERNAME
)
# Requests per client address to the public endpoints that cost a hash, an e-mail or a token
# check (DRF rate strings: "<count>/<second|minute|hour|day>"), counted in CACHES["default"].
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "signup": env.str("CLOUDSITE_SIGNUP_RATE", default="20/hour"),
    "verify": env.str("CLOUDSITE_VERIFY_RATE", default="60/hour"),
}
# A production process (DJANGO_DEBUG off, CLOUDSITE_STACK set) refuses to start with a cache that
# is not shared between processes and instances (cloudsite.checks).
REQUIRE_SHARED_CACHE = env.bool(
    "CLOUDSITE_REQUIRE_SHARED_CACHE", default=not DEBUG and bool(env.str("CLOUDSITE_STACK", default=""))
)

# --- No secrets in logs; unverified accounts expire (issue #17) ---------------------------------
# Every line goes through the JSON formatter, which redacts query strings (cloudsite.request_log):
# Django's own handlers (its plain console one when DEBUG, runserver's) are replaced by the root's,
# and its loggers follow LOG_LEVEL. Two of them dump user data at DEBUG, so they stay at INFO
# whatever LOG_LEVEL says: the SQL statements with their parameters (e-mail addresses, i.e. Basic
# usernames) and the template engine's failed lookups with the whole context (on DEBUG's error page:
# the request's query string, headers and form data).
LOGGING["loggers"].update({
    "django": {"handlers": [], "level": LOGGING["root"]["level"], "propagate": True},
    "django.server": {**LOGGING["loggers"]["django.server"], "handlers": [], "propagate": True},
    "django.db.backends": {"level": "INFO"},
    "django.template": {"level": "INFO"},
})
# Where django.core.mail.backends.filebased.EmailBackend writes messages, when chosen.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
# Seconds an account may stay unverified: then manage.py remove_unverified_accounts (a systemd timer
# on the instances) deletes it, and a sign-up with its address is accepted even before that.
UNVERIFIED_TTL = env.int("CLOUDSITE_UNVERIFIED_TTL", default=48 * 3600)

# --- Cross-site requests, body caps, HSTS and CSP (issue #17) ---------------------------------
# Largest multipart body outside the picture endpoint (which has FILES_UPLOAD_MAX_BYTES): the
# form fields Django accepts (DATA_UPLOAD_MAX_MEMORY_SIZE) plus room for the framing. Nothing else
# takes a file, so an admin form never needs more.
MULTIPART_BODY_MAX_BYTES = env.int("CLOUDSITE_MULTIPART_BODY_MAX_BYTES",
                                   default=DATA_UPLOAD_MAX_MEMORY_SIZE + 64 * 1024)
# HSTS where TLS terminates at the load balancer (SecurityMiddleware sends it on HTTPS only).
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS",
                              default=365 * 24 * 3600 if env.bool("DJANGO_BEHIND_PROXY", default=False) else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Content-Security-Policy (django-csp) on every response. The HTML pages (admin, browsable API,
# /v1/docs) load scripts only from here: no inline script runs. Styles allow 'unsafe-inline':
# DRF's templates and Swagger UI's page carry inline style attributes and a <style> block (styles
# cannot run code). tests/browser checks the pages in headless Chromium under this policy.
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402  (plain constants)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
