"""Callback signatures: HMAC-SHA256 over `<timestamp>.<body>`, checked as a receiver would."""

from __future__ import annotations

import hashlib
import hmac

from gateway.batch.webhooks import retry_pause, signature, verify

BODY = b'{"id":"abc","status":"completed"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"secret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature("secret", 1700000000, BODY) == "sha256=" + expected


def test_a_receiver_accepts_the_signed_body_and_rejects_any_change() -> None:
    sig = signature("secret", 1700000000, BODY)
    assert verify("secret", BODY, sig, "1700000000", now=1700000010)
    assert not verify("secret", BODY + b" ", sig, "1700000000", now=1700000010)
    assert not verify("other", BODY, sig, "1700000000", now=1700000010)
    assert not verify("secret", BODY, sig, "1700000001", now=1700000010)  # timestamp is signed


def test_an_old_or_malformed_timestamp_is_refused() -> None:
    sig = signature("secret", 1700000000, BODY)
    assert not verify("secret", BODY, sig, "1700000000", now=1700000000 + 301)
    assert not verify("secret", BODY, sig, "soon", now=1700000000)


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    assert [retry_pause(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_pause(30) == 600.0
