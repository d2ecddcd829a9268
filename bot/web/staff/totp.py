"""TOTP codes (RFC 6238, the six digits of an authenticator app) for staff sign-in.

pyotp computes the codes; this module adds what pyotp leaves to its caller: which time
step a code belongs to (so the caller can refuse a code seen before), and keeping the
shared secret encrypted at rest. bot.web.staff.auth stores and checks them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
from typing import Optional

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "Detox support staff"
# One step either side of now: a phone's clock a little off, or a code typed as it turned.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, as RFC 4226 recommends


def provisioning_uri(username: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (typed in, or as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _fernet(key: bytes) -> Fernet:
    # A key of its own, derived from the session secret, so the two uses never share one.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"staff totp secret").derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str, key: bytes) -> str:
    return _fernet(key).encrypt(secret.encode()).decode()


def unseal(sealed: str, key: bytes) -> Optional[str]:
    """The secret, or None when it was sealed with another key (the session secret changed)."""
    try:
        return _fernet(key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def normalise(code: Optional[str]) -> str:
    """What the person typed, without the spaces some apps show in the middle."""
    return "".join((code or "").split())


def matching_step(secret: str, code: str, now: Optional[dt.datetime] = None) -> Optional[int]:
    """The time step whose code `code` is, within DRIFT_STEPS of now; None if none is."""
    code = normalise(code)
    if len(code) != 6 or not (code.isascii() and code.isdigit()):  # isdigit alone takes any script's digits
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or dt.datetime.now(dt.timezone.utc))
    # newest first: if two steps happen to share a code, the later one is used up
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
