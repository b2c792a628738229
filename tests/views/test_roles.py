"""Every staff route × every role (SPEC §8, §13): the server enforces each boundary.

The table names, per blueprint, the roles that may use it; a route in a blueprint the
table does not know fails the test, so a new page cannot ship unchecked. Each route is
called with ids that exist, and with a valid CSRF token for POSTs, so a refusal is the
role's, not a missing token's or a missing row's.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.models import Episode, GpLetter, Referral
from screening.triage import tasks
from tests.factories import make_invited_episode, make_task, make_user
from tests.pages import csrf_token, page
from tests.views.test_triage import sign_in

EVERYONE = {c.ROLE_ADMIN, c.ROLE_PRESCRIBER, c.ROLE_CLINICIAN, c.ROLE_PARTNER}
TRIAGE = {c.ROLE_ADMIN, c.ROLE_PRESCRIBER}
ALLOWED = {
    "staff": EVERYONE,  # a partner is sent on to their referrals
    "triage": TRIAGE,
    "assisted": TRIAGE,
    "reports": TRIAGE | {c.ROLE_CLINICIAN},
    "admin": {c.ROLE_ADMIN},
    "referrals": {c.ROLE_PARTNER},  # scoped to the partner's own services
}
STAFF_BLUEPRINTS = set(ALLOWED)


def _ids(session: Session) -> dict[str, str]:
    """A row of each kind a route names: a task with a referral to the food bank and a
    letter, an episode on the to-call list, a colleague's account."""
    lead = make_user(session, email="lead@example.nhs.uk")
    task = make_task(session, missed_meals="yes")
    now = clock.now()
    referral = tasks.refer(
        session,
        task.id,
        tasks.Context(by=lead, now=now),
        service="food-bank",
        services=state().config.services,
        domains=["food"],
    )
    closing = make_task(session, nhs_number="9990000026")
    tasks.close(
        session,
        closing.id,
        tasks.Context(by=lead, now=now),
        outcome="support_arranged",
        version=closing.version,
        config=state().config,
    )
    letter = session.scalars(select(GpLetter).where(GpLetter.task_id == closing.id)).one()
    episode, _ = make_invited_episode(session, nhs_number="9990000034")
    session.commit()
    from_db = session.get(Episode, episode.id)
    assert from_db is not None
    return {
        "task_id": str(task.id),
        "referral_id": str(referral.id),
        "letter_task": str(closing.id),
        "letter_id": str(letter.id),
        "episode_id": str(episode.id),
        "public_id": from_db.public_id,
        "user_id": str(lead.id),
    }


def _path(rule, ids: dict[str, str]) -> str:
    path = rule.rule
    if rule.endpoint == "triage.letter":  # a letter is made as its task closes
        return f"/triage/{ids['letter_task']}/letters/{ids['letter_id']}"
    for argument in rule.arguments:
        path = path.replace(f"<int:{argument}>", ids[argument]).replace(
            f"<{argument}>", ids[argument]
        )
    return path


def _staff_rules(app: Flask) -> list:
    rules = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if blueprint in STAFF_BLUEPRINTS:
            rules.append(rule)
        else:
            assert blueprint in {"static", "health", "about", "webhooks", "patient", "auth"}, (
                f"{rule.endpoint}: add its blueprint to ALLOWED"
            )
    return sorted(rules, key=lambda rule: (rule.rule, sorted(rule.methods or ())))


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_each_route_is_open_to_its_roles_and_forbidden_to_the_others(
    app: Flask, session: Session, role: str
) -> None:
    ids = _ids(session)
    services = ("food-bank",) if role == c.ROLE_PARTNER else ()
    client = sign_in(app, session, f"{role}@example.nhs.uk", role=role, services=services)
    # The session's token, from the sign-out form every staff page carries.
    token = csrf_token(page(client.get("/", follow_redirects=True)))
    wrong = []
    for rule in _staff_rules(app):
        allowed = role in ALLOWED[rule.endpoint.split(".")[0]]
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            status = _call(client, method, _path(rule, ids), token)
            # Allowed: a page opens (a partner's home sends them on); an action is taken or
            # refused for what it was sent (400, 409), never for who sent it.
            opens = status in (200, 303) if method == "GET" else status in (303, 400, 409)
            if opens != allowed or (not allowed and status != 403):
                wrong.append(f"{method} {rule.rule}: {status}")
    assert wrong == []


def _call(client: FlaskClient, method: str, path: str, token: str) -> int:
    if method == "GET":
        return client.get(path).status_code
    return client.post(path, data={"csrf_token": token}).status_code


def test_signed_out_every_staff_route_goes_to_sign_in(app: Flask, session: Session) -> None:
    ids = _ids(session)
    client = app.test_client()
    for rule in _staff_rules(app):
        if "GET" in (rule.methods or ()):
            reply = client.get(_path(rule, ids))
            assert reply.status_code == 302 and "/login" in reply.headers["Location"], rule.rule


def test_a_partner_opening_another_services_referral_is_not_found(
    app: Flask, session: Session
) -> None:
    ids = _ids(session)  # the referral is to the food bank
    housing = sign_in(
        app, session, "housing@example.org", role="partner", services=("housing-options",)
    )
    assert housing.get(f"/referrals/{ids['referral_id']}").status_code == 404
    token = csrf_token(page(housing.get("/referrals")))
    for action in ("accept", "decline", "complete"):
        reply = housing.post(
            f"/referrals/{ids['referral_id']}/{action}", data={"csrf_token": token}
        )
        assert reply.status_code == 404, action
    still = select(Referral.status).where(Referral.id == int(ids["referral_id"]))
    assert session.scalar(still) == "made"
