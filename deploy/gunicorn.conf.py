"""gunicorn's settings for screening: `gunicorn --config deploy/gunicorn.conf.py
'screening:create_app()'` (README "Deploying"; the systemd unit runs exactly this).

Every value can be set from the environment file, so one copy serves every server.
"""

import os

# Behind the trust's reverse proxy (TLS there): listen on the loopback only.
bind = os.environ.get("SCREENING_BIND", "127.0.0.1:8000")
# Sync workers: each request is short, and the database is the limit. Two per core.
workers = int(os.environ.get("SCREENING_WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
timeout = 30
graceful_timeout = 30
# The proxy's address, whose X-Forwarded-Proto gunicorn believes; the app's own
# SCREENING_TRUSTED_PROXIES decides whose X-Forwarded-For it believes.
forwarded_allow_ips = os.environ.get("SCREENING_PROXY_ADDRESSES", "127.0.0.1")
# A site without a proxy can let gunicorn speak TLS itself.
certfile = os.environ.get("SCREENING_TLS_CERT") or None
keyfile = os.environ.get("SCREENING_TLS_KEY") or None
# The app logs each request itself, as JSON with its route rather than its path (a patient
# link's path holds its token), so gunicorn's access log stays off.
accesslog = None
errorlog = "-"
# The control socket would want a home folder, which the service account does not have.
control_socket_disable = True
LOG_LEVEL = os.environ.get("SCREENING_LOG_LEVEL", "INFO").upper()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "screening.core.logs.JsonLines"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {
        "level": os.environ.get("SCREENING_LOG_LEVEL", "INFO").upper(),
        "handlers": ["stderr"],
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}
