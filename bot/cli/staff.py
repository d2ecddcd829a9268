"""`bot staff add NAME`: create (or reset the password of) a staff account for the console.

The password is prompted twice on a terminal, or read from the first line of stdin when
stdin is not a terminal (`printf '%s\n' "$PW" | bot staff add alice`).

`bot staff totp NAME` turns on two-factor sign-in for an account: it prints the new secret
and its otpauth:// URI once (they are stored only encrypted), replaces any earlier secret
and ends the account's sessions. `bot staff totp NAME --remove` turns it off again. Both
are written to the audit log, as the operating-system user who ran them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from bot.transcripts import db


def register(subparsers) -> None:
    parser = subparsers.add_parser("staff", help="manage staff accounts of the review console")
    sub = parser.add_subparsers(dest="staff_command", required=True)
    add = sub.add_parser("add", help="create a staff account, or reset its password")
    add.add_argument("name", help="username (letters, digits, . _ - @)")
    add.set_defaults(handler=add_user)
    listing = sub.add_parser("list", help="list staff accounts")
    listing.set_defaults(handler=list_users)
    disable = sub.add_parser("disable", help="disable a staff account and end its sessions")
    disable.add_argument("name")
    disable.set_defaults(handler=disable_user)
    two_factor = sub.add_parser(
        "totp", help="turn on two-factor sign-in (TOTP) for an account and print its secret once"
    )
    two_factor.add_argument("name")
    two_factor.add_argument("--remove", action="store_true", help="turn two-factor sign-in off instead")
    two_factor.set_defaults(handler=totp_user)


def read_password(stdin=None) -> str:
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password (10+ characters): ")
        second = getpass.getpass("Repeat password: ")
        if first != second:
            raise ValueError("the passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def add_user(args: argparse.Namespace) -> int:
    from bot.web.staff import auth

    try:
        password = read_password()
        db.migrate()
        with db.session_scope() as session:
            auth.add_user(session, args.name, password)
    except ValueError as error:
        print(f"bot staff add: {error}", file=sys.stderr)
        return 2
    print(f"Staff account {args.name!r} is ready; log in at /staff.")
    return 0


def list_users(args: argparse.Namespace) -> int:
    from bot.transcripts.models import StaffUser

    with db.session_scope() as session:
        for user in session.query(StaffUser).order_by(StaffUser.username):
            state = "active" if user.active else "disabled"
            factors = "password+totp" if user.totp_secret else "password"
            last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
            print(f"{user.username}\t{state}\t{factors}\tlast login {last}")
    return 0


def disable_user(args: argparse.Namespace) -> int:
    from bot.transcripts.models import StaffSession, StaffUser

    with db.session_scope() as session:
        user = session.query(StaffUser).filter_by(username=args.name).one_or_none()
        if user is None:
            print(f"bot staff disable: no account {args.name!r}", file=sys.stderr)
            return 1
        user.active = False
        session.query(StaffSession).filter_by(user_id=user.id).delete()
    print(f"Staff account {args.name!r} disabled.")
    return 0


def operator() -> str:
    """Who ran the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return f"cli:uid {os.getuid()}"


def totp_user(args: argparse.Namespace) -> int:
    from bot.transcripts import queries
    from bot.transcripts.models import StaffUser
    from bot.web.staff import auth

    db.migrate()
    with db.session_scope() as session:
        user = session.query(StaffUser).filter_by(username=args.name).one_or_none()
        if user is None:
            print(f"bot staff totp: no account {args.name!r}", file=sys.stderr)
            return 1
        if args.remove:
            auth.remove_totp(session, user)
            queries.audit(session, operator(), "totp_remove", target=user.username, client="cli")
        else:
            replaced = bool(user.totp_secret)
            secret, uri = auth.enrol_totp(session, user)
            queries.audit(
                session,
                operator(),
                "totp_enrol",
                target=user.username,
                detail="replaced" if replaced else "",
                client="cli",
            )
    if args.remove:
        print(f"Two-factor sign-in is off for {args.name!r}; its sessions have ended.")
        return 0
    print(f"Two-factor sign-in is on for {args.name!r}; its sessions have ended.")
    if replaced:
        print("The earlier secret no longer works.")
    print("Add it to an authenticator app now (this is the only time it is shown):")
    print(f"  secret: {secret}")
    print(f"  {uri}")
    return 0
