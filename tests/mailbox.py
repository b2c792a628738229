"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it is sent, and the outbox
run the worker makes, for the tests of every mail (SPEC §10, §13)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from screening.cli.sending import mail_composers
from screening.config import Config
from screening.mail import outbox

ROOT = Path(__file__).resolve().parents[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.messages.append((envelope.rcpt_tos, mail))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.messages if address in recipients]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def mailing_config(folder: Path, port: int, **changes: Callable[[str], str]) -> dict[str, str]:
    """SPEC §6 variables for the shipped `config/` copied into `folder`, each file named in
    `changes` (`settings_yaml=...`) rewritten by its function, and mail through the local
    SMTP server on `port`."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    for name, change in changes.items():
        path = config / name.replace("_yaml", ".yaml")
        path.write_text(change(path.read_text() if path.exists() else ""))
    return {"SCREENING_CONFIG_DIR": str(config), "SCREENING_SMTP_URL": f"smtp://127.0.0.1:{port}"}


def send_mail(session: Session, config: Config, now: datetime) -> outbox.MailRun:
    """What `send-due` does with the mail outbox."""
    return outbox.send_due(session, config, now, mail_composers(config))
