"""Artifact encryption keys: a key ring derived with scrypt and a stored salt.

Operators give *secrets* (any string; a generated one is 32 random bytes, URL-safe base64). Each
secret is stretched with scrypt over the database's salt into a Fernet key, so a short
passphrase is not a weak key and the same secret gives different keys in different databases.
The first secret's key encrypts; every key decrypts, so a new key can be introduced without
losing what older keys encrypted (``pipe-service keys rotate`` then re-encrypts old rows).

A key's *id* is a short fingerprint of the derived key (safe to log and to store with each row).

Where secrets come from, first wins as the encrypting key:

1. ``persistence.encryption_key`` (then ``persistence.previous_keys``, decrypt-only);
2. the key file ``<var_dir>/artifact-keys`` (mode 0600; one secret per line, newest first),
   created with a fresh secret on first start when nothing is configured.

Synopsis::

    ring = KeyRing.derive(["current secret", "old secret"], salt=salt)
    token = ring.encrypt(b"...")
    ring.decrypt(token)          # raises cryptography.fernet.InvalidToken for foreign tokens
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

logger = logging.getLogger("pipe_service.storage.keys")

KEY_FILE_NAME: Final = "artifact-keys"
KEY_FILE_MODE: Final = 0o600
SALT_BYTES: Final = 16
# scrypt cost: ~16 MiB and tens of milliseconds per key, paid once per key at start-up.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_KEY_ID_CONTEXT: Final = b"pipe-service artifact key id v1"


class KeyConfigError(Exception):
    """The keys cannot be loaded (unreadable key file, empty secret); the message says how to
    fix it and never contains a secret."""


def derive_fernet_key(secret: str, salt: bytes) -> bytes:
    """The URL-safe base64 Fernet key scrypt derives from ``secret`` and ``salt``."""
    if not secret:
        raise KeyConfigError("an encryption key must not be empty")
    raw = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def key_id_of(fernet_key: bytes) -> str:
    return hashlib.sha256(_KEY_ID_CONTEXT + fernet_key).hexdigest()[:12]


@dataclass(frozen=True)
class KeyRing:
    """Derived keys, the encrypting one first."""

    ids: tuple[str, ...]
    _fernets: tuple[Fernet, ...]

    @classmethod
    def derive(cls, secrets_newest_first: Sequence[str], *, salt: bytes) -> KeyRing:
        if not secrets_newest_first:
            raise KeyConfigError("a key ring needs at least one key")
        keys = list(dict.fromkeys(derive_fernet_key(s, salt) for s in secrets_newest_first))
        return cls(ids=tuple(key_id_of(k) for k in keys), _fernets=tuple(Fernet(k) for k in keys))

    @classmethod
    def from_fernet_keys(cls, keys_newest_first: Sequence[bytes]) -> KeyRing:
        """A ring of ready Fernet keys (no derivation), e.g. ``logging.archive_key``; raises
        ``ValueError`` for a key that is not a Fernet key."""
        if not keys_newest_first:
            raise KeyConfigError("a key ring needs at least one key")
        keys = list(dict.fromkeys(keys_newest_first))
        return cls(ids=tuple(key_id_of(k) for k in keys), _fernets=tuple(Fernet(k) for k in keys))

    @property
    def current_id(self) -> str:
        return self.ids[0]

    def encrypt(self, plain: bytes) -> bytes:
        return self._fernets[0].encrypt(plain)

    def decrypt(self, token: bytes) -> bytes:
        """Raises ``InvalidToken`` when no key of the ring made ``token`` (or it was altered)."""
        if len(self._fernets) == 1:
            return self._fernets[0].decrypt(token)
        return MultiFernet(list(self._fernets)).decrypt(token)

    def __repr__(self) -> str:  # never show key material, even in a debugger or traceback
        return f"KeyRing(ids={self.ids!r})"


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def key_file_path(var_dir: Path) -> Path:
    return var_dir / KEY_FILE_NAME


def read_key_file(path: Path) -> list[str]:
    """The secrets in ``path`` (newest first); [] when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise KeyConfigError(
            f"cannot read the artifact key file {path}: {exc.strerror}; fix its permissions "
            "(the service user needs read access, mode 0600)"
        ) from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def write_key_file(path: Path, secrets_newest_first: Sequence[str]) -> None:
    """Write the key file atomically with mode 0600 (created so, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(
            "# pipe-service artifact encryption keys, newest first. Back this file up:\n"
            "# without it, stored reasoning and tool results cannot be read.\n"
        )
        handle.writelines(f"{secret}\n" for secret in secrets_newest_first)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, KEY_FILE_MODE)
    os.replace(temporary, path)


def prepend_new_key(path: Path) -> None:
    """Put a freshly generated secret first in the key file (it becomes the encrypting key)."""
    write_key_file(path, [new_secret(), *read_key_file(path)])
    logger.warning("generated a new artifact encryption key in %s (mode 0600)", path)


def collect_secrets(
    configured: str | None, previous: Sequence[str], var_dir: Path, *, create: bool
) -> list[str]:
    """Every secret, the encrypting one first; with ``create`` and nothing configured or on
    disk, a new secret is generated into the key file (and said so in the log)."""
    path = key_file_path(var_dir)
    from_file = read_key_file(path)
    ordered = [s for s in (configured, *previous) if s] + from_file
    if ordered or not create:
        return list(dict.fromkeys(ordered))
    secret = new_secret()
    write_key_file(path, [secret])
    logger.warning(
        "no artifact encryption key configured: generated one into %s (mode 0600); back it "
        "up, or set persistence.encryption_key",
        path,
    )
    return [secret]


__all__ = [
    "KEY_FILE_NAME",
    "InvalidToken",
    "KeyConfigError",
    "KeyRing",
    "collect_secrets",
    "derive_fernet_key",
    "key_file_path",
    "new_salt",
    "new_secret",
    "prepend_new_key",
    "read_key_file",
    "write_key_file",
]
