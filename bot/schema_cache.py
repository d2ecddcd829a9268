"""`jsonschema.validate` that checks each schema once, not on every call.

Rasa checks every answer of the action server with `jsonschema.validate(result,
schema)`, and jsonschema's `validate` first validates the *schema* against its
meta-schema, every time. Profiled with py-spy under load (README, "Speed"), that check was
about 45 % of the Rasa server's CPU. The schemas Rasa passes never change, so here each
one is checked once and its validator kept; the instance is still validated in full,
with the same exceptions (`ValidationError` for a bad instance, `SchemaError` for a bad
schema) and the same best-match error message.

Installed by `bot.rasa_server` in the Rasa server process only.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Optional

import jsonschema
from jsonschema import exceptions, validators

_original_validate = jsonschema.validate


@lru_cache(maxsize=64)
def _checked_validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(instance: Any, schema: Any, cls: Optional[type] = None, *args: Any, **kwargs: Any) -> None:
    if cls is not None or args or kwargs:
        return _original_validate(instance, schema, cls, *args, **kwargs)
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON: leave it to jsonschema as it is
        return _original_validate(instance, schema)
    error = exceptions.best_match(_checked_validator(key).iter_errors(instance))
    if error is not None:
        raise error
    return None


def install() -> None:
    """Every later `from jsonschema import validate` (Rasa imports it inside its
    functions) gets this one."""
    jsonschema.validate = validate
    validators.validate = validate
