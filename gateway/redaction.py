"""Provider secrets kept out of everything that leaves the gateway: responses and log lines.

`Redactor` holds the secrets (every provider's `api_key`, the values of key-bearing provider
`headers`, the admin key), each also as it reads escaped inside JSON, and masks every occurrence
with `*` of the same length, so byte lengths (and a `content-length`) stay true. A secret
shorter than `MIN_SECRET` characters is not masked (it would mangle ordinary text such as model
names; the simulator's key is `sim`). Only a hit costs anything: a miss is one `in` per secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from gateway.config import Settings

MIN_SECRET = 8
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"}
)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")  # they log to their own handlers


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the configuration holds that a client or a log must never see."""
    found = [p.api_key.get_secret_value() for p in settings.providers if p.api_key]
    for provider in settings.providers:
        for name, value in provider.headers.items():
            if name.lower() in SECRET_HEADERS:
                found += [value, value.rpartition(" ")[2]]  # and the token of `Bearer <token>`
    if settings.admin_key:
        found.append(settings.admin_key.get_secret_value())
    return found


class Redactor:
    """Masks known secrets in bytes and text."""

    __slots__ = ("pairs", "text_pairs")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET:  # as is, and as JSON writes it (escaped or not)
                forms |= {secret, _in_json(secret, True), _in_json(secret, False)}
        ordered = sorted(forms, key=len, reverse=True)  # a secret inside another: the longer first
        self.text_pairs = tuple((form, "*" * len(form)) for form in ordered)
        self.pairs = tuple((form.encode(), b"*" * len(form.encode())) for form in ordered)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def bytes(self, data: bytes) -> bytes:
        for secret, mask in self.pairs:
            if secret in data:
                data = data.replace(secret, mask)
        return data

    def text(self, text: str) -> str:
        for secret, mask in self.text_pairs:
            if secret in text:
                text = text.replace(secret, mask)
        return text


def _in_json(secret: str, ascii_only: bool) -> str:
    return json.dumps(secret, ensure_ascii=ascii_only)[1:-1]


class RedactingFilter(logging.Filter):
    """Masks the secrets in a log record's message, traceback and stack before any handler
    formats it; never drops a record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        return True


def install_log_filter(secrets: Iterable[str]) -> None:
    """Mask `secrets` in every record the root handlers and uvicorn's loggers write."""
    redactor = Redactor(secrets)
    if not redactor:
        return
    masking = RedactingFilter(redactor)
    for handler in logging.getLogger().handlers:
        handler.addFilter(masking)
    for name in UVICORN_LOGGERS:  # logger filters survive uvicorn's dictConfig of its handlers
        logging.getLogger(name).addFilter(masking)
