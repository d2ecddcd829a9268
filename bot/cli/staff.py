"""`bot staff add NAME`: create (or reset the password of) a staff account for the console.

The password is prompted twice on a terminal, or read from the first line of stdin when
stdin is not a terminal (`printf '%s\n' "$PW" | bot staff add alice`).
"""

from __future__ import annotations

import argparse
import getpass
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
            last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
            print(f"{user.username}\t{state}\tlast login {last}")
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
