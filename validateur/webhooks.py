"""Webhook endpoints: registration rules, Standard Webhooks signing and the one HTTP POST.

Customer URLs are untrusted: a URL that resolves to a loopback, private, link-local, CGNAT,
multicast or reserved address is refused at registration (`check_url`) and again at every
delivery, where `requests-hardened` resolves the host, checks the address and connects to
that very address (a DNS answer that changes between check and connection gains nothing).
Redirects are never followed and only a 2xx counts as delivered.
`VALIDATEUR_WEBHOOK_ALLOW_PRIVATE=1` lifts the address check (development and tests).

Signing follows the Standard Webhooks specification through the `standardwebhooks`
package, always with a UTC datetime (the package misreads any other: its issue #251).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from math import floor
from typing import Any
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress
from standardwebhooks.webhooks import Webhook as Signer

from validateur.errors import ValidateurError

log = logging.getLogger(__name__)

#: The events an endpoint may subscribe to (README.md § Notifications: webhooks and e-mail).
EVENTS = ("validation.completed", "validation.failed", "validation.cancelled",
          "batch.completed")
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
MAX_URL_LENGTH = 2048
#: Seconds to connect, then to wait for the answer: a slow receiver costs one job this long.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
USER_AGENT = "Validateur-Webhooks/1"


class WebhookRefused(ValidateurError):
    """A registration the rules refuse; `message` is French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes, as Standard Webhooks secrets are written."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    """The `webhook-id` of one event to one endpoint (the receiver's idempotency key)."""
    return "msg_" + secrets.token_hex(12)


def checked_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise WebhookRefused("Choisissez au moins un événement (« events »).")
    unknown = sorted({str(e) for e in events} - set(EVENTS))
    if unknown:
        raise WebhookRefused(f"Événement inconnu : {', '.join(unknown)}. "
                             f"Événements possibles : {', '.join(EVENTS)}.")
    return [event for event in EVENTS if event in events]


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, CGNAT, multicast, reserved, unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified):
        return False
    return not any(ip in net for net in EXTRA_BLOCKED_NET_RANGES)


def check_url(url: Any, *, allow_private: bool) -> str:
    """The URL if an endpoint may have it; a French refusal otherwise.

    Every address the host resolves to must be public (unless `allow_private`): a host
    with one private answer among public ones could be steered there.
    """
    if not isinstance(url, str) or not url.strip():
        raise WebhookRefused("Indiquez l'adresse (« url ») du point de terminaison.")
    checked: str = url.strip()
    if len(checked) > MAX_URL_LENGTH:
        raise WebhookRefused("Adresse trop longue.")
    parts = urlsplit(checked)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("L'adresse doit commencer par https:// (ou http://) et nommer "
                             "un serveur.")
    if parts.username or parts.password:
        raise WebhookRefused("L'adresse ne doit pas contenir d'identifiants.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        answers = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        raise WebhookRefused("Le serveur de cette adresse est introuvable (DNS).") from None
    if not allow_private and not all(is_public(str(a[4][0])) for a in answers):
        raise WebhookRefused("Cette adresse mène à un réseau privé ou local : seules les "
                             "adresses publiques sont permises.")
    return checked


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The body, the same bytes on every attempt (compact JSON, keys sorted)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False).encode()


def signed_headers(secret: str, message_id: str, body: bytes,
                   now: datetime | None = None) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` (this attempt's, in UTC) and `webhook-signature`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    signature: str = Signer(secret).sign(message_id, moment, body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(floor(moment.timestamp())),
            "webhook-signature": signature, "content-type": "application/json",
            "user-agent": USER_AGENT}


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: the status code (None when no answer) and a short reason."""

    status_code: int | None
    error: str | None = None
    #: The address was refused before anything was sent: no retry can help.
    refused: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks to stop (the endpoint is disabled)."""
        return self.status_code == 410


def _session(allow_private: bool) -> HTTPSession:
    """A session that pins the checked address, never redirects and ignores proxy
    variables (a proxy would connect to whatever the name resolves to then)."""
    session = HTTPSession(Config(
        ip_filter_enable=not allow_private,
        ip_filter_allow_loopback_ips=allow_private,
        never_redirect=True,
        default_timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
        user_agent_override=USER_AGENT,
    ))
    session.trust_env = False
    return session


def post(url: str, secret: str, message_id: str, body: bytes, *,
         allow_private: bool) -> Attempt:
    """One signed POST; never raises for the network's reasons (they are the Attempt's)."""
    headers = signed_headers(secret, message_id, body)
    try:
        with _session(allow_private) as session:
            response = session.post(url, data=body, headers=headers, allow_redirects=False,
                                    stream=True)
            with response:
                code = int(response.status_code)
    except InvalidIPAddress:
        return Attempt(None, "adresse non publique refusée", refused=True)
    except requests.exceptions.Timeout:
        return Attempt(None, "délai dépassé")
    except requests.RequestException as exc:
        return Attempt(None, type(exc).__name__)
    if 300 <= code < 400:
        return Attempt(code, "redirection non suivie")
    return Attempt(code, None if 200 <= code < 300 else f"réponse HTTP {code}")
