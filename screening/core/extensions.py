"""Flask extensions, created once here and bound in `create_app` with `init_app`."""

from __future__ import annotations

from flask import request
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from .db import db

compress = Compress()
csrf = CSRFProtect()
login_manager = LoginManager()
# No default limits: each route that needs one says so (unknown tokens, logins).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def remote_addr() -> str | None:
    return request.remote_addr if request else None


__all__ = ["compress", "csrf", "db", "limiter", "login_manager", "remote_addr"]
