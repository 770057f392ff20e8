"""Email over SMTP: one plain-text message per alert event, with a small bounded retry.

smtplib has no retries of its own: temporary failures (4xx replies, refused or timed-out
connections) are tried again with backoff, up to ``attempts``; 5xx replies (bad address,
refused sender, failed login) are final. Each try goes to ``record``, as for the HTTP channels.
The password never appears in a repr or a log line.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from shared.webhooks import Attempt

from . import messages
from .messages import Notice

log = logging.getLogger(__name__)

# SMTP replies in 5xx are final (bad address, refused sender, failed login): retrying changes nothing.
_PERMANENT_SMTP = (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                   smtplib.SMTPNotSupportedError)


@dataclass
class EmailChannel:
    name: str
    host: str
    sender: str
    recipients: Sequence[str]
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def message(self, notice: Notice) -> EmailMessage:
        subject, body = messages.email_text(notice)
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, self.sender, ", ".join(self.recipients)
        msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="troika.invalid")
        msg.set_content(body)
        return msg

    def _send_once(self, msg: EmailMessage) -> None:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)
        finally:
            # Not `with SMTP(...)`: its exit raises when QUIT is answered oddly, which would
            # count an accepted message as failed and send it again.
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, notice: Notice, record: Callable[[Attempt], None]) -> bool:
        msg = self.message(notice)
        for number in range(1, self.attempts + 1):
            try:
                self._send_once(msg)
            except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, timed out, TLS failure
                code = getattr(exc, "smtp_code", None)
                final = isinstance(exc, _PERMANENT_SMTP) or (code is not None and code >= 500)
                record(Attempt(number, False, code, _smtp_error(exc), retryable=not final))
                log.warning("email %s via %s:%d attempt %d/%d failed: %s", self.name, self.host, self.port, number,
                            self.attempts, _smtp_error(exc))
                if final or number == self.attempts:
                    return False
                self.sleep(self.backoff * 2 ** (number - 1))
            else:
                record(Attempt(number, True, 250))
                return True
        return False


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timeout"
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
