"""Staff accounts, server-side sessions, CSRF tokens and login throttling.

- Passwords: argon2id (argon2-cffi), rehashed on login when the parameters change.
- Second factor (optional, per account): a TOTP code from an authenticator app
  (bot.web.staff.totp), enrolled with `bot staff totp NAME`. A wrong, missing or reused
  code is a failed login like a wrong password, so the lock below counts it, and the
  answer is the same whichever was wrong. A code is accepted once: the time step of the
  last good code is kept, and an equal or older one is refused.
- Sessions: a random token in an HttpOnly, SameSite=Strict cookie; the database keeps only
  HMAC-SHA256(secret, token), with the session's CSRF token and last-seen time. A login
  always issues a new token and ends the session of any token the browser still sent;
  logout deletes the row, so the old cookie is worthless even if it was copied. Idle
  sessions expire after `staff_idle_minutes`, any session `staff_session_hours` after
  login (bot.settings).
- Secret: `secret_key`, or a random key generated once into `secret_file` (mode 0600).
- Throttling: after 5 failed logins in a row for a username (whether or not the account
  exists), the account is locked for 1 s after the last failure, then 2 s, 4 s… up to 60 s
  (`lock_seconds`); an attempt during the lock is refused without checking the password and
  does not lengthen it. A success clears the count. It is kept in the login_attempts table,
  so every web worker sees it. Separately, 30 failures from one client within 15 minutes
  refuse that client's attempts. The web app also limits attempts per client
  (`login_rate_limit`, bot.web.security).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Optional, Tuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from bot import settings
from bot.settings import Settings
from bot.transcripts.models import LoginAttempt, StaffSession, StaffUser
from bot.web.staff import totp

COOKIE_NAME = "staff_session"
LOGIN_CSRF_COOKIE = "staff_login_csrf"
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 30
FAILURE_WINDOW = dt.timedelta(minutes=15)
# failures in a row older than this no longer count towards an account's lock
LOCK_MEMORY = dt.timedelta(hours=24)
FIRST_LOCK_SECONDS = 1
MAX_LOCK_SECONDS = 60

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist (same timing either way).
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def idle_timeout(config: Optional[Settings] = None) -> dt.timedelta:
    return dt.timedelta(minutes=(config or settings.load()).staff_idle_minutes)


def session_lifetime(config: Optional[Settings] = None) -> dt.timedelta:
    """How long a session lasts after login, however active."""
    return dt.timedelta(hours=(config or settings.load()).staff_session_hours)


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


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after `failures` failed logins in a row."""
    if failures < MAX_FAILURES:
        return 0
    return min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** min(failures - MAX_FAILURES, 16))


def failures_in_a_row(session: Session, username: str, now: dt.datetime) -> Tuple[int, Optional[dt.datetime]]:
    """(failed logins for `username` since its last success, time of the latest one)."""
    q = session.query(LoginAttempt).filter(LoginAttempt.username == username[:80])
    last_success = q.filter(LoginAttempt.success.is_(True)).order_by(LoginAttempt.at.desc()).first()
    since = now - LOCK_MEMORY
    if last_success is not None and last_success.at > since:
        since = last_success.at
    failures = q.filter(LoginAttempt.success.is_(False), LoginAttempt.at > since)
    latest = failures.order_by(LoginAttempt.at.desc()).first()
    return failures.count(), latest.at if latest else None


def locked_until(session: Session, username: str, now: Optional[dt.datetime] = None) -> Optional[dt.datetime]:
    """When the account's lock ends, if it is locked at `now`."""
    now = now or dt.datetime.utcnow()
    count, latest = failures_in_a_row(session, username, now)
    seconds = lock_seconds(count)
    if not seconds or latest is None:
        return None
    until = latest + dt.timedelta(seconds=seconds)
    return until if until > now else None


def throttled(session: Session, username: str, client: str, now: Optional[dt.datetime] = None) -> bool:
    """Too many failures from this client (any account) within FAILURE_WINDOW."""
    if not client:
        return False
    since = (now or dt.datetime.utcnow()) - FAILURE_WINDOW
    q = session.query(LoginAttempt).filter(LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    # a high bar: behind a reverse proxy many staff can share one address
    return q.filter(LoginAttempt.client == client[:64]).count() >= MAX_CLIENT_FAILURES


@dataclass
class LoginRefusal:
    """Why a login failed: "invalid" (checked and wrong), "locked" (the account's lock;
    not checked) or "throttled" (the client's failures; not checked). `retry_after` is in
    whole seconds; `locked_for` is set when this failure started a new lock."""

    reason: str
    retry_after: int = 0
    locked_for: int = 0
    detail: str = ""  # for the audit log only: which factor was wrong (never shown)


def refusal(session: Session, username: str, client: str) -> Optional[LoginRefusal]:
    """The refusal of an attempt that must not even be checked, else None."""
    now = dt.datetime.utcnow()
    until = locked_until(session, username, now)
    if until is not None:
        return LoginRefusal("locked", retry_after=max(1, int((until - now).total_seconds() + 0.999)))
    if throttled(session, username, client, now):
        return LoginRefusal("throttled", retry_after=int(FAILURE_WINDOW.total_seconds()))
    return None


def enrol_totp(session: Session, user: StaffUser) -> Tuple[str, str]:
    """Give `user` a new TOTP secret, replacing any earlier one, and end their sessions so
    every later sign-in asks for a code: (secret, otpauth URI), to be shown once."""
    secret = totp.new_secret()
    user.totp_secret = totp.seal(secret, secret_key())
    user.totp_last_step = None
    session.query(StaffSession).filter_by(user_id=user.id).delete()
    return secret, totp.provisioning_uri(user.username, secret)


def remove_totp(session: Session, user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    session.query(StaffSession).filter_by(user_id=user.id).delete()


def second_factor_problem(session: Session, user: StaffUser, code: str, now: dt.datetime) -> str:
    """Why `code` does not complete `user`'s sign-in, or "" when it does (and is used up)."""
    if not totp.normalise(code):
        return "no code"
    secret = totp.unseal(user.totp_secret, secret_key())
    if secret is None:
        return "totp secret unreadable: the session secret changed; enrol again"
    step = totp.matching_step(secret, code, now.replace(tzinfo=dt.timezone.utc))
    if step is None:
        return "wrong code"
    # One conditional UPDATE, so two workers given the same code at once cannot both take it.
    used = session.execute(
        sa.update(StaffUser)
        .where(StaffUser.id == user.id)
        .where(sa.or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return "" if used.rowcount == 1 else "code already used"


def authenticate(
    session: Session, username: str, password: str, client: str, code: str = ""
) -> Tuple[Optional[StaffUser], Optional[LoginRefusal]]:
    """(user, None) on success, or (None, refusal). `code` is the TOTP code, needed only
    by an account enrolled for it."""
    username = (username or "").strip()[:80]
    refused = refusal(session, username, client)
    if refused is not None:
        # not recorded as an attempt: waiting out a lock must not lengthen it
        return None, refused
    user = session.query(StaffUser).filter_by(username=username).one_or_none() if username else None
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user and user.active else _DUMMY_HASH, password or "")
        ok = ok and user is not None and user.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    now = dt.datetime.utcnow()
    problem = ""
    if ok and user is not None and user.totp_secret:
        problem = second_factor_problem(session, user, code, now)
        ok = not problem
    session.add(LoginAttempt(username=username, client=client[:64], success=ok, at=now))
    if not ok or user is None:
        session.flush()
        locked_for = lock_seconds(failures_in_a_row(session, username, now)[0])
        return None, LoginRefusal("invalid", retry_after=locked_for, locked_for=locked_for, detail=problem)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return user, None


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


def resume_session(
    session: Session, token: Optional[str], config: Optional[Settings] = None
) -> Optional[StaffIdentity]:
    """The identity behind a session cookie, touching its idle timer; None if expired/unknown."""
    if not token or len(token) > 200:
        return None
    row = session.get(StaffSession, token_hash(token))
    if row is None:
        return None
    now = dt.datetime.utcnow()
    if now - row.last_seen_at > idle_timeout(config) or now - row.created_at > session_lifetime(config):
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
    # as bytes: compare_digest refuses str with non-ASCII characters, which anyone can post
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected).encode(), str(given).encode())
