"""Rasa's `Event.resolve_by_type`, answered from a table instead of a walk of the classes.

Rasa turns every stored event back into an object by looking its type name ("user",
"action", "slot") up among all subclasses of `Event`, listing them afresh for each event:
about 40 µs an event on our machine. A conversation of 200 turns holds over 1,000 events,
so each load of it spent tens of milliseconds there alone (README, "Speed"). The answer for
a name changes only when a new Event subclass is defined, so the table is dropped then
(through `Event.__init_subclass__`) and rebuilt on the next lookup. A name missing from
the table goes to Rasa's own lookup, with its own answers for "topic", a default and an
unknown name.

Installed by `bot.rasa_server` in the Rasa server process only.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_original_resolve = Event.resolve_by_type
_table: Dict[str, Type[Event]] = {}


def _build() -> None:
    table: Dict[str, Type[Event]] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)  # the first in Rasa's order wins, as in its loop
    _table.update(table)


def resolve_by_type(type_name: str, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    if not _table:
        _build()
    found = _table.get(type_name)
    if found is not None:
        return found
    return _original_resolve(type_name, default)


def _forget_on_new_subclass(cls: Any, **kwargs: Any) -> None:
    _table.clear()
    super(Event, cls).__init_subclass__(**kwargs)


def install() -> None:
    """Safe to call more than once."""
    Event.resolve_by_type = staticmethod(resolve_by_type)
    Event.__init_subclass__ = classmethod(_forget_on_new_subclass)
    _table.clear()
