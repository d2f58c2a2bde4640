"""The TAXII server's settings (YAML): API roots, their collections, users and who may read or write what.

A password never sits in the file: a user has either ``password_hash`` (argon2, as ``argon2-cffi`` writes
it) or ``password_env``, the name of an environment variable holding the password. A collection names the
users who may ``read`` it and those who may ``write`` to it.

.. code-block:: yaml

    title: Example Lab intel
    users:
      partner-a: {password_hash: "$argon2id$v=19$m=65536,t=3,p=4$..."}
      publisher: {password_env: TAXII_PUBLISHER_PASSWORD}
    api_roots:
      - path: intel
        title: Distillation campaigns
        collections:
          - id: 9d5b7c3e-4a52-4a0f-8f8e-2f8c1b6a3d10
            title: campaigns
            read: [partner-a, publisher]
            write: [publisher]
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from distillguard.config.loading import read_yaml_mapping, validate_model
from distillguard.core.errors import ConfigError

DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024


class TaxiiUser(BaseModel):
    """A user and how its password is checked: an argon2 hash, or an environment variable holding it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    password_hash: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TaxiiUser:
        if (self.password_hash is None) == (self.password_env is None):
            raise ValueError("give exactly one of password_hash (argon2) and password_env")
        if self.password_hash is not None and not self.password_hash.startswith("$argon2"):
            raise ValueError("password_hash must be an argon2 hash ($argon2id$...), never a password")
        return self


class TaxiiCollection(BaseModel):
    """A collection of an API root, and the users who may read it or write to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    description: str = ""
    alias: str | None = None
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"collection id {value!r} is not a UUID") from None


class TaxiiApiRoot(BaseModel):
    """An API root: served at ``/<path>/``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str
    description: str = ""
    max_content_length: int = Field(DEFAULT_MAX_CONTENT_LENGTH, gt=0)
    collections: tuple[TaxiiCollection, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> TaxiiApiRoot:
        ids = [c.id for c in self.collections]
        if len(ids) != len(set(ids)):
            raise ValueError(f"API root {self.path}: a collection id is listed twice")
        return self


class TaxiiConfig(BaseModel):
    """The whole server: discovery information, page size, users and API roots (the first is the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = "distillguard TAXII server"
    description: str = ""
    contact: str | None = None
    page_size: int = Field(1000, gt=0, le=10_000)
    users: dict[str, TaxiiUser]
    api_roots: tuple[TaxiiApiRoot, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> TaxiiConfig:
        paths = [r.path for r in self.api_roots]
        if len(paths) != len(set(paths)) or "taxii2" in paths:
            raise ValueError("API root paths must be unique and not 'taxii2' (the discovery endpoint)")
        for root in self.api_roots:
            for collection in root.collections:
                unknown = sorted(set(collection.read + collection.write) - self.users.keys())
                if unknown:
                    raise ValueError(f"api_roots.{root.path}.collections.{collection.id}: unknown users {unknown}")
        return self

    def api_root(self, path: str) -> TaxiiApiRoot | None:
        """The API root served at ``/<path>/``, or None."""
        return next((r for r in self.api_roots if r.path == path), None)


def load_taxii_config(path: Path) -> TaxiiConfig:
    """The settings in ``path``; ConfigError naming the file and field, or a ``password_env`` variable unset."""
    config = validate_model(TaxiiConfig, read_yaml_mapping(path, "TAXII settings"), str(path), "TAXII settings")
    for name, user in config.users.items():
        if user.password_env is not None and not os.environ.get(user.password_env):
            raise ConfigError(f"{path}: users.{name}.password_env: environment variable {user.password_env} is not set")
    return config
