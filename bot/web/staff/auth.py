"""Staff accounts, server-side sessions, CSRF tokens and login throttling.

- Passwords: argon2id (argon2-cffi), rehashed on login when the parameters change.
- Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the database keeps only
  HMAC-SHA256(secret, token), with the session's CSRF token and last-seen time. Idle
  sessions expire after `staff_idle_minutes` (bot.settings), any session after 12 hours.
- Secret: `secret_key`, or a random key generated once into `secret_file` (mode 0600).
- Throttling: after 5 failed logins for a username (30 from one client) within 15 minutes,
  further attempts are refused without checking the password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Optional, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from bot import settings
from bot.transcripts.models import LoginAttempt, StaffSession, StaffUser

COOKIE_NAME = "staff_session"
LOGIN_CSRF_COOKIE = "staff_login_csrf"
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 30
FAILURE_WINDOW = dt.timedelta(minutes=15)
ABSOLUTE_LIFETIME = dt.timedelta(hours=12)

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist (same timing either way).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def idle_timeout() -> dt.timedelta:
    return dt.timedelta(minutes=settings.load().staff_idle_minutes)


def secret_key() -> bytes:
    config = settings.load()
    if config.secret_key:
        return config.secret_key.encode()
    path = config.secret_file
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    # Written aside and linked into place, so a second worker starting at the same moment
    # reads either no file or the whole key, and both end up with the same one.
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_urlsafe(48).encode())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()


def token_hash(token: str) -> str:
    return hmac.new(secret_key(), token.encode(), hashlib.sha256).hexdigest()


def valid_username(name: str) -> bool:
    return bool(name) and len(name) <= 80 and all(c.isalnum() or c in "._-@" for c in name)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(session: Session, username: str, password: str) -> StaffUser:
    if not valid_username(username):
        raise ValueError("a username is 1-80 letters, digits, '.', '_', '-' or '@'")
    if len(password) < 10:
        raise ValueError("the password must be at least 10 characters long")
    existing = session.query(StaffUser).filter_by(username=username).one_or_none()
    if existing is not None:
        existing.password_hash = hash_password(password)
        existing.active = True
        return existing
    user = StaffUser(
        username=username, password_hash=hash_password(password), active=True, created_at=dt.datetime.utcnow()
    )
    session.add(user)
    session.flush()
    return user


def throttled(session: Session, username: str, client: str, now: Optional[dt.datetime] = None) -> bool:
    since = (now or dt.datetime.utcnow()) - FAILURE_WINDOW
    q = session.query(LoginAttempt).filter(LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    by_user = q.filter(LoginAttempt.username == username[:80]).count()
    by_client = q.filter(LoginAttempt.client == client[:64]).count() if client else 0
    # per client a higher bar: behind a reverse proxy many staff can share one address
    return by_user >= MAX_FAILURES or by_client >= MAX_CLIENT_FAILURES


def authenticate(session: Session, username: str, password: str, client: str) -> Tuple[Optional[StaffUser], str]:
    """(user, "") on success, or (None, reason) with reason "throttled" or "invalid"."""
    username = (username or "").strip()[:80]
    if throttled(session, username, client):
        session.add(LoginAttempt(username=username, client=client[:64], success=False, at=dt.datetime.utcnow()))
        return None, "throttled"
    user = session.query(StaffUser).filter_by(username=username).one_or_none() if username else None
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user and user.active else _DUMMY_HASH, password or "")
        ok = ok and user is not None and user.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(username=username, client=client[:64], success=ok, at=dt.datetime.utcnow()))
    if not ok or user is None:
        return None, "invalid"
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = dt.datetime.utcnow()
    return user, ""


@dataclass
class StaffIdentity:
    user_id: int
    username: str
    csrf_token: str
    token_hash: str


def start_session(session: Session, user: StaffUser) -> str:
    token = secrets.token_urlsafe(32)
    now = dt.datetime.utcnow()
    session.add(
        StaffSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def resume_session(session: Session, token: Optional[str]) -> Optional[StaffIdentity]:
    """The identity behind a session cookie, touching its idle timer; None if expired/unknown."""
    if not token or len(token) > 200:
        return None
    row = session.get(StaffSession, token_hash(token))
    if row is None:
        return None
    now = dt.datetime.utcnow()
    if now - row.last_seen_at > idle_timeout() or now - row.created_at > ABSOLUTE_LIFETIME:
        session.delete(row)
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        session.delete(row)
        return None
    row.last_seen_at = now
    return StaffIdentity(user.id, user.username, row.csrf_token, row.token_hash)


def end_session(session: Session, token: Optional[str]) -> None:
    if token:
        row = session.get(StaffSession, token_hash(token))
        if row is not None:
            session.delete(row)


def csrf_ok(expected: Optional[str], given: Optional[str]) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
