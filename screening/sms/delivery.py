"""Delivery status callbacks, recorded idempotently (SPEC §8, §9).

Callbacks come late, twice and out of order. A message's first final status wins and is
never moved back; a non-final report after a final one changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..invitations.opt_outs import record_opt_out
from ..models import OutboundMessage
from .client import OptedOutError
from .twilio_client import ERROR_CLASSES, our_status

log = logging.getLogger(__name__)

# Delivery failures that mean the number cannot receive our texts at all.
UNREACHABLE_CODES = frozenset({30003, 30005, 30006})


def record_status(
    session: Session, *, sid: str, twilio_status: str, error_code: int | None, now: datetime
) -> bool:
    """Apply one callback; True when it changed something."""
    message = session.scalar(select(OutboundMessage).where(OutboundMessage.provider_sid == sid))
    status = our_status(twilio_status)
    if message is None or status is None:
        log.info("status callback ignored (unknown message or status %r)", twilio_status)
        return False
    if message.status in c.FINAL_MESSAGE_STATUSES or status not in c.FINAL_MESSAGE_STATUSES:
        return False
    message.status = status
    message.provider_status = twilio_status
    message.final_at = now
    message.error_code = error_code
    episode = message.episode
    if status == c.MESSAGE_DELIVERED:
        episode.delivered_at = episode.delivered_at or now
    elif ERROR_CLASSES.get(error_code or 0) is OptedOutError and episode.patient.mobile:
        record_opt_out(session, episode.patient.mobile, source=c.OPT_OUT_PROVIDER, now=now)
    elif _invitation_unreachable(message, error_code) and episode.status == c.EPISODE_INVITED:
        # The invitation never arrived: the human route takes over.
        episode.status = c.EPISODE_SEND_FAILED
        episode.needs_call_reason = c.NEEDS_CALL_SEND_FAILED
    return True


def _invitation_unreachable(message: OutboundMessage, error_code: int | None) -> bool:
    return message.kind == c.MESSAGE_INVITE and error_code in UNREACHABLE_CODES
