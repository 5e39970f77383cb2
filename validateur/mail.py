"""E-mail: the French message of a run's (or a batch's) end, and its one SMTP session.

`smtplib` with an explicit timeout on every socket operation (Flask-Mail opens SMTP with
none: a silent server would hold the job forever). `SMTP_URL` is
`smtp://[user:password@]host:port` (STARTTLS when the server offers it) or `smtps://…`
(TLS from the first byte). The message names no file and no cell value: the run's id, its
status, counts, amounts written the Québec way and a link.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from validateur import formatting, labels
from validateur.validation.findings import Severity

SMTP_TIMEOUT_SECONDS = 10.0
SIGNATURE = "— Validateur RAMQ"

#: The subject's ending per final status, for a run and for a batch.
RUN_SUBJECT = {"completed": "terminée", "failed": "en échec", "cancelled": "annulée"}
BATCH_SUBJECT = {"completed": "terminé", "partial": "terminé en partie", "failed": "en échec",
                 "cancelled": "annulé"}
#: The final states of a batch's files, as its e-mail counts them.
BATCH_FILE_STATES = {"completed": "terminés", "failed": "en échec", "cancelled": "annulés"}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool
    user: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    tls = parts.scheme == "smtps"
    return SmtpTarget(host=parts.hostname or "localhost",
                      port=parts.port or (465 if tls else 25), tls=tls,
                      user=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password else None)


def send(smtp_url: str, sender: str, recipient: str, subject: str, body: str) -> None:
    """One message through one SMTP session; raises `OSError`/`smtplib.SMTPException`."""
    target = parse_smtp_url(smtp_url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(body)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if target.tls:
        client = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS,
                                  context=context)
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if not target.tls and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if target.user:
            client.login(target.user, target.password or "")
        client.send_message(message)


def _counts_lines(data: Mapping[str, Any]) -> list[str]:
    counts = data.get("counts") or {}
    return [f"{labels.SEVERITY_PLURAL[s]} : {formatting.integer(int(counts.get(s, 0)))}"
            for s in Severity]


def _amount_lines(data: Mapping[str, Any]) -> list[str]:
    return [f"Gain potentiel : {formatting.money(Decimal(data.get('potentialGain', '0')))}",
            f"Montant à risque : {formatting.money(Decimal(data.get('moneyAtRisk', '0')))}"]


def compose(event: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) in French for an event's payload data (no file name in it)."""
    status = str(data.get("status", ""))
    if "batchId" in data:
        name = f"Lot {data['batchId']}"
        subject = f"{name} {BATCH_SUBJECT.get(status, status)}"
        runs = data.get("runs") or {}
        head = [f"Le lot {data['batchId']} est {BATCH_SUBJECT.get(status, status)}.",
                f"Fichiers : {formatting.integer(int(data.get('fileCount', 0)))}",
                *(f"Fichiers {label} : {formatting.integer(int(runs.get(code, 0)))}"
                  for code, label in BATCH_FILE_STATES.items())]
    else:
        name = f"Validation {data['validationId']}"
        subject = f"{name} {RUN_SUBJECT.get(status, status)}"
        head = [f"La validation {data['validationId']} est "
                f"{RUN_SUBJECT.get(status, status)}."]
    body = ["Bonjour,", "", *head,
            f"Lignes : {formatting.integer(int(data.get('totalRows', 0)))}",
            *_counts_lines(data), *_amount_lines(data), "",
            f"Consulter le détail : {data.get('url', '')}", "", SIGNATURE, ""]
    return subject, "\n".join(body)
