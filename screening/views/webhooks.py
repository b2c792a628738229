"""Twilio webhooks (SPEC §8): check the signature, record, answer fast.

The signature is checked against `SCREENING_PUBLIC_BASE_URL` + path, the URL Twilio
called, so it still holds behind a TLS-terminating proxy where `request.url` says http.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator

from ..config.loaded import state
from ..core import clock
from ..core.constants import OPT_OUT_REPLY
from ..core.extensions import csrf, db
from ..core.numbers import MAX_ID, whole_number
from ..invitations.opt_outs import START_WORDS, STOP_WORDS, keyword, lift_opt_out, record_opt_out
from ..sms.delivery import record_status

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/twilio")
csrf.exempt(bp)  # Twilio cannot send our CSRF token; the signature stands in for it.

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@bp.before_request
def require_twilio_signature() -> None:
    token = state().config.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    url = state().config.public_base_url + request.path
    if not token or not signature:
        abort(403)
    if not RequestValidator(token).validate(url, request.form.to_dict(), signature):
        abort(403)


@bp.post("/status")
def status() -> tuple[str, int]:
    sid = request.form.get("MessageSid", "")
    code = request.form.get("ErrorCode", "")
    record_status(
        db.session(),
        sid=sid,
        twilio_status=request.form.get("MessageStatus", ""),
        error_code=whole_number(code, at_most=MAX_ID),
        now=clock.now(),
    )
    db.session.commit()
    return "", 204


@bp.post("/inbound")
def inbound() -> Response:
    phone = request.form.get("From", "")
    word = keyword(request.form.get("Body", ""))
    session = db.session()
    if phone and word in STOP_WORDS:
        record_opt_out(session, phone, source=OPT_OUT_REPLY, now=clock.now())
    elif phone and word in START_WORDS:
        lift_opt_out(session, phone, now=clock.now())
    session.commit()
    # No reply of our own: Twilio's opt-out handling answers STOP and START itself.
    return Response(EMPTY_TWIML, mimetype="text/xml")
