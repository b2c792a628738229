"""The mails that tell a service a referral waits (SPEC §13): when it is made, and once
more when it is overdue. Like the urgent alert they carry no patient detail, only the
referral's link, which needs a partner's sign-in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..config import Config
from ..core import clock
from ..mail import outbox
from ..models import Mail, Referral

NOTICE_SUBJECT = "A referral is waiting for your service"
REMINDER_SUBJECT = "Reminder: a referral is still waiting for your answer"


def compose_notice(session: Session, config: Config, mail: Mail) -> outbox.Composed:
    referral = _referral(session, mail)
    return outbox.Composed(
        to=mail.to_address,
        subject=NOTICE_SUBJECT,
        body=(
            f"{config.hospital or 'The hospital'}'s social prescribing team has referred a "
            f"patient to {referral.service_name or referral.service_id}.\n\n"
            f"Open the referral to accept or decline it: {_link(config, referral)}\n\n"
            "This message carries no patient details: sign in to see them.\n"
        ),
    )


def compose_reminder(session: Session, config: Config, mail: Mail) -> outbox.Composed:
    referral = _referral(session, mail)
    made = referral.referred_at.astimezone(clock.LONDON)
    return outbox.Composed(
        to=mail.to_address,
        subject=REMINDER_SUBJECT,
        body=(
            f"A referral to {referral.service_name or referral.service_id} made on "
            f"{made.day} {made:%B %Y} is still waiting for your answer.\n\n"
            f"Please accept or decline it: {_link(config, referral)}\n\n"
            "This message carries no patient details: sign in to see them.\n"
        ),
    )


def _referral(session: Session, mail: Mail) -> Referral:
    referral = session.get(Referral, mail.referral_id)
    assert referral is not None
    return referral


def _link(config: Config, referral: Referral) -> str:
    return f"{config.public_base_url}/referrals/{referral.id}"
