"""The building blocks every config model shares: the strict base model, common field types, ``ConfigProblems``.

They live apart from ``ioc.config.models`` so that a group of config tables with its own module (the
notification channels' tables, ``ioc.config.channels``) can build on them without importing the whole site
config, which in turn gathers those tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

PathPart = str | int
KeyPath = tuple[PathPart, ...]


class ConfigProblems(ValueError):
    """One or more cross-field problems, each with its path relative to the model that found it."""

    def __init__(self, problems: Sequence[tuple[KeyPath, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


class StrictModel(BaseModel):
    """A config table: unknown keys refused, frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def no_bare_number(hint: str) -> Any:
    """Reject a YAML number where a code is expected: unquoted ``03172`` would lose its leading zero."""

    def check(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"got the number {value}; write it in quotes ({hint}) so leading zeros are kept")
        return value

    return BeforeValidator(check)


Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", min_length=2, max_length=64),
    Field(description="lower-case letters, digits, '-' or '_', e.g. muong-cha"),
]
EnvVarName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,127}$"),
    Field(description="name of an environment variable (the secret itself never goes in a file)"),
]
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# local@domain with a dot in the domain: enough to catch a roster's typos, not RFC 5322 in full.
EmailAddress = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _DOMAIN_LABEL + r"(?:\." + _DOMAIN_LABEL + r")+$",
        max_length=254,
        strip_whitespace=True,
    ),
    Field(description="an e-mail address, e.g. hung@muongcha.gov.vn"),
]
WebUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=500)]
MessageKind = Literal["alert_opened", "alert_escalated", "alert_reminder", "alert_resolved"]
