"""
title: OpenRouter (pipe-service)
author: pipe-service
version: 0.1.0
license: MIT
description: OpenRouter models through a local pipe-service sidecar (this shim only forwards).
required_open_webui_version: 0.12.4
"""

# How it works
# ------------
# Open WebUI loads this file as a manifold pipe. ``pipes()`` lists the sidecar's models
# (``GET /v1/models``); ``pipe()`` opens one WebSocket per chat to ``/v1/pipe`` and speaks the
# shim protocol v1 (see pipe-service's docs/protocol.md): ``hello`` → ``welcome``, ``request``,
# then frames until ``done`` / ``error`` / ``busy``. Text deltas become streamed strings,
# reasoning becomes ``reasoning_content`` chunks (Open WebUI's reasoning box), ``event`` frames go
# to the event emitter, and the shim runs Open WebUI's tools, UI calls and file saves when the
# sidecar asks. Closing the socket (stop button, error) cancels the request in the sidecar.
#
# Only what Open WebUI 0.12.4 ships is used: aiohttp, pydantic, cryptography (secrets at rest)
# and the standard library. ``open_webui`` is imported only inside functions (file storage, the
# secret key, the model-entry adapter ``OwuiModelEntries``), so the file also imports outside
# Open WebUI. Model entries: see "Open WebUI model entries" below and docs/install.md. The shim
# does no per-chunk work beyond forwarding (no parsing, no regexes, no emitter call per delta):
# Open WebUI's own per-chunk cost dominates already. Delta frames that queued up while Open WebUI
# was busy are yielded as one chunk (``_arrived_deltas``); nothing waits for more.

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import html
import inspect
import io
import json
import logging
import math
import os
import re
import string
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, Field, field_validator

SHIM_VERSION = "0.1.0"
PROTOCOL_VERSIONS = (1,)
WS_PATH = "/v1/pipe"
MODELS_PATH = "/v1/models"
MAX_SERVER_FRAME_BYTES = 32 * 1024 * 1024
"""aiohttp refuses bigger messages; matches the sidecar's ``MAX_SERVER_FRAME_BYTES``."""
DEFAULT_MAX_CLIENT_FRAME_BYTES = 32 * 1024 * 1024
CLOSE_WAIT_S = 2.0
"""After ``done``/``error`` the sidecar closes first; wait this long for it, then close."""
MODELS_READ_TIMEOUT_S = 30.0
UNREACHABLE_MODEL_ID = "sidecar-unreachable"
MAX_TOOLS = 512
MAX_FILES = 256
MAX_ERROR_CHARS = 4000
DIRECT_UPLOADS_KEY = "pipe_service_direct_uploads"
"""Body key where the companion Direct Uploads filter lists the files it took away from RAG."""
FALLBACK_USER_ID = "pipe-service-storage"
_UNSET_STRINGS = frozenset({"", "default", "inherit"})

log = logging.getLogger("pipe_service.shim")

EventEmitter = Callable[[dict[str, Any]], Awaitable[Any]]
EventCaller = Callable[[dict[str, Any]], Awaitable[Any]]
Output = str | dict[str, Any]

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
SummaryMode = Literal["auto", "concise", "detailed", "disabled"]
ThinkingMode = Literal["open_webui", "status", "both"]
ToolMode = Literal["pipeline", "passthrough"]
UsageStyle = Literal["text", "icons"]
PersistReasoning = Literal["disabled", "next_reply", "conversation"]


def _select(*options: str) -> dict[str, Any]:
    return {"input": {"type": "select", "options": list(options)}}


_EFFORT_SELECT = _select("none", "minimal", "low", "medium", "high", "xhigh", "max")
_SUMMARY_SELECT = _select("auto", "concise", "detailed", "disabled")
_THINKING_SELECT = _select("open_webui", "status", "both")
_TOOL_MODE_SELECT = _select("pipeline", "passthrough")
_USAGE_STYLE_SELECT = _select("text", "icons")
_PERSIST_REASONING_SELECT = _select("disabled", "next_reply", "conversation")
# On/off settings are tri-state: unset (the sidecar's default), "true" or "false".
_ON_OFF_SELECT = _select("true", "false")


def _blank_is_unset(value: Any) -> Any:
    """Open WebUI's valve form sends "" for a field switched to custom and left empty."""
    if isinstance(value, str) and value.strip().lower() in _UNSET_STRINGS:
        return None
    return value


# -- secrets at rest ---------------------------------------------------------------------------
#
# SIDECAR_TOKEN and a user's OPENROUTER_API_KEY are stored as ``encrypted:<Fernet token>``, with
# the key Open WebUI derives for its own valve encryption (utils/valves.py: WEBUI_SECRET_KEY
# itself when it is a 44-char Fernet key, else urlsafe-base64(SHA-256(WEBUI_SECRET_KEY))).
# Open WebUI stores what the Valves model returns, so the validator encrypts on save; the form
# shows them as password fields. Without a secret key (outside Open WebUI) values stay plain.

ENCRYPTED_PREFIX = "encrypted:"
_PASSWORD_INPUT = {"input": {"type": "password"}}


def _secret_key() -> str:
    try:
        from open_webui.env import WEBUI_SECRET_KEY  # type: ignore[import-not-found]
    except ImportError:
        return os.environ.get("WEBUI_SECRET_KEY", "")
    return str(WEBUI_SECRET_KEY or "")


def _fernet() -> Any:
    secret = _secret_key()
    if not secret:
        return None
    from cryptography.fernet import Fernet

    key = secret.encode()
    if len(secret) != 44:
        key = base64.urlsafe_b64encode(hashlib.sha256(key).digest())
    return Fernet(key)


def encrypt_secret(value: str | None) -> str | None:
    """``value`` encrypted for storage (idempotent; blank and unkeyed values stay as they are)."""
    if not value or value.startswith(ENCRYPTED_PREFIX):
        return value
    fernet = _fernet()
    if fernet is None:
        return value
    return ENCRYPTED_PREFIX + fernet.encrypt(value.encode()).decode()


class SecretUnreadableError(ValueError):
    """A stored secret does not decrypt (WEBUI_SECRET_KEY changed since it was saved)."""


def reveal_secret(value: str | None, valve: str) -> str:
    """The plain secret of a stored valve value; :class:`SecretUnreadableError` names ``valve``."""
    if not value:
        return ""
    if not value.startswith(ENCRYPTED_PREFIX):
        return value
    fernet = _fernet()
    if fernet is None:
        raise SecretUnreadableError(f"{valve}: no WEBUI_SECRET_KEY to decrypt it with")
    from cryptography.fernet import InvalidToken

    try:
        return str(fernet.decrypt(value.removeprefix(ENCRYPTED_PREFIX).encode()).decode())
    except InvalidToken:
        raise SecretUnreadableError(
            f"{valve} was encrypted with another WEBUI_SECRET_KEY: enter it again"
        ) from None


# -- model ids (must equal pipe_service.catalog.model_ids.slug_to_owui_id) ----------------------

_KEPT_CHARS = frozenset(string.ascii_letters + string.digits + ".-")


def slug_to_owui_id(slug: str) -> str:
    """Encode an OpenRouter slug as an Open WebUI sub id: ``/`` → ``__``, others ``_hh`` bytes.

    ``A-Z a-z 0-9 . -`` stay as they are; every other character becomes ``_`` plus two
    lowercase hex digits per UTF-8 byte. Raises ``ValueError`` for an empty slug or one that
    is not valid Unicode text.
    """
    if not slug:
        raise ValueError("an OpenRouter slug must not be empty")
    out: list[str] = []
    for char in slug:
        if char in _KEPT_CHARS:
            out.append(char)
        elif char == "/":
            out.append("__")
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)


# -- sidecar addresses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SidecarAddress:
    """One entry of ``SIDECAR_ADDRESSES``: a Unix socket path or an http(s) base URL."""

    text: str
    socket_path: str | None
    base_url: str

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + WS_PATH


def parse_addresses(value: str) -> list[SidecarAddress]:
    """Parse the comma-separated valve; raises ``ValueError`` naming a bad entry."""
    addresses: list[SidecarAddress] = []
    for raw in value.split(","):
        text = raw.strip()
        if not text:
            continue
        if text.startswith("unix:"):
            path = text.removeprefix("unix:")
            if path.startswith("//"):
                path = path[2:]
            if not path.startswith("/"):
                raise ValueError(f"{text!r}: a Unix socket needs an absolute path (unix:/path)")
            addresses.append(SidecarAddress(text, path, "http://localhost"))
        elif text.startswith(("http://", "https://")):
            addresses.append(SidecarAddress(text, None, text.rstrip("/")))
        else:
            raise ValueError(f"{text!r}: use unix:/path/to/pipe-service.sock or http://host:port")
    if not addresses:
        raise ValueError("no address given")
    return addresses


class SidecarUnavailableError(Exception):
    """No sidecar address could be used; ``failures`` pairs each address with the reason."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{address}: {reason}" for address, reason in failures))
        self.failures = failures


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        if exc.status == 401:
            return "HTTP 401 unauthorized: check SIDECAR_TOKEN"
        return f"HTTP {exc.status} on the WebSocket handshake ({exc.message})"
    text = str(exc) or type(exc).__name__
    return text[:300]


def _session(address: SidecarAddress, connect_timeout_s: float) -> aiohttp.ClientSession:
    connector: aiohttp.BaseConnector
    if address.socket_path is not None:
        connector = aiohttp.UnixConnector(path=address.socket_path)
    else:
        connector = aiohttp.TCPConnector()
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=connect_timeout_s,
        sock_connect=connect_timeout_s,
        sock_read=MODELS_READ_TIMEOUT_S,
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


def _auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- what Open WebUI handed this request -----------------------------------------------------------


@dataclass
class OwuiContext:
    """The injected ``__params__`` the frame handlers need."""

    emit: EventEmitter | None = None
    call: EventCaller | None = None
    tools: Mapping[str, Any] = field(default_factory=dict)
    user: Mapping[str, Any] = field(default_factory=dict)
    request: Any = None
    chat_id: str | None = None
    message_id: str | None = None
    session_id: str | None = None
    show_usage: bool = True
    fallback_email: str = "pipe-service-storage@system.local"

    @property
    def is_admin(self) -> bool:
        """Admins get the technical detail of failures (addresses, reasons); users do not."""
        return self.user.get("role") == "admin"


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _stringify(result: Any) -> str:
    """A tool's return value as the text the model sees."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace")
    if isinstance(result, dict | list | tuple | int | float | bool):
        return json.dumps(result, ensure_ascii=False, default=str)
    return str(result)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _tool_arguments(arguments: str) -> dict[str, Any]:
    parsed = json.loads(arguments) if arguments.strip() else {}
    if not isinstance(parsed, dict):
        raise ValueError("tool arguments must be a JSON object")
    return parsed


async def run_tool(owui: OwuiContext, frame: Mapping[str, Any]) -> dict[str, Any]:
    """Run one ``tool_call`` frame with Open WebUI's ``__tools__``; the ``tool_result`` reply."""
    call_id = str(frame.get("call_id", ""))
    name = str(frame.get("name", ""))
    try:
        tool = owui.tools.get(name)
        if not isinstance(tool, Mapping):
            raise LookupError(f"tool {name!r} is not available in this chat")
        arguments = _tool_arguments(str(frame.get("arguments") or ""))
        if tool.get("direct"):
            output = await _run_direct_tool(owui, call_id, name, tool, arguments)
        else:
            function = tool.get("callable")
            if function is None:
                raise LookupError(f"tool {name!r} has nothing to call")
            result = function(**arguments)
            if inspect.isawaitable(result):
                result = await result
            output = _stringify(result)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the model sees the failure and may recover
        return {"type": "tool_result", "call_id": call_id, "error": _error_text(exc)}
    return {"type": "tool_result", "call_id": call_id, "output": output}


async def _run_direct_tool(
    owui: OwuiContext, call_id: str, name: str, tool: Mapping[str, Any], arguments: dict[str, Any]
) -> str:
    """A direct (browser-side) tool server call, the way Open WebUI's middleware makes it.

    Best effort: it needs the user's live socket session, and the reply shape is the tool
    server's; a ``{"error": ...}`` reply becomes the tool's error.
    """
    if owui.call is None:
        raise RuntimeError("direct tools need a live Open WebUI session")
    reply = await owui.call(
        {
            "type": "execute:tool",
            "data": {
                "id": call_id,
                "name": name,
                "params": arguments,
                "server": tool.get("server", {}),
                "session_id": owui.session_id,
            },
        }
    )
    if isinstance(reply, Mapping) and set(reply) == {"error"}:
        raise RuntimeError(str(reply["error"]))
    return _stringify(reply)


async def answer_event_call(owui: OwuiContext, frame: Mapping[str, Any]) -> dict[str, Any]:
    """Ask Open WebUI's UI (``__event_call__``); the ``event_call_result`` reply."""
    call_id = str(frame.get("call_id", ""))
    if owui.call is None:
        return {
            "type": "event_call_result",
            "call_id": call_id,
            "error": "no live Open WebUI session to ask",
        }
    try:
        result = await owui.call(dict(frame.get("event") or {}))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # reported to the sidecar, which decides what the user sees
        return {"type": "event_call_result", "call_id": call_id, "error": _error_text(exc)}
    return {"type": "event_call_result", "call_id": call_id, "result": result}


class FileStorageUnavailableError(Exception):
    """Open WebUI's file storage cannot be used from here (not inside Open WebUI)."""


class DirectUploadError(Exception):
    """An attachment the Direct Uploads filter passed on cannot be sent (said to the user)."""


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def read_direct_upload(
    owui: OwuiContext, entry: Mapping[str, Any], *, max_bytes: int
) -> dict[str, Any]:
    """Read one attachment from Open WebUI storage for the chat's user; a ``files`` entry.

    Only the file's owner, an admin, or a user Open WebUI grants read access may send it;
    its size is checked before it is read (and again after).
    """
    try:
        from open_webui.models.files import Files  # type: ignore[import-not-found]
        from open_webui.models.users import Users  # type: ignore[import-not-found]
        from open_webui.storage.provider import Storage  # type: ignore[import-not-found]
        from open_webui.utils.access_control.files import (  # type: ignore[import-not-found]
            has_access_to_file,
        )
    except ImportError as exc:
        raise DirectUploadError("Open WebUI file storage is not available here") from exc
    file_id = str(entry.get("id") or "")
    name = str(entry.get("name") or file_id or "attachment")
    record = await _awaited(Files.get_file_by_id(file_id)) if file_id else None
    if record is None or not getattr(record, "path", None):
        raise DirectUploadError(f"{name}: the file is not in Open WebUI storage")
    user_id = str(owui.user.get("id", ""))
    user = await _awaited(Users.get_user_by_id(user_id)) if user_id else None
    allowed = user is not None and (
        record.user_id == user.id
        or user.role == "admin"
        or await _awaited(has_access_to_file(file_id, "read", user))
    )
    if not allowed:
        raise DirectUploadError(f"{name}: you may not read this file")
    meta = record.meta if isinstance(record.meta, Mapping) else {}
    declared = meta.get("size")
    if isinstance(declared, int) and declared > max_bytes:
        raise DirectUploadError(f"{name}: {declared / 1_048_576:.1f} MB is over the limit")
    path = await asyncio.to_thread(Storage.get_file, record.path)
    data = await asyncio.to_thread(_read_capped, path, max_bytes)
    if data is None:
        raise DirectUploadError(f"{name}: the file is over the limit")
    content_type = str(meta.get("content_type") or entry.get("content_type") or "")
    return {
        "type": "file",
        "id": file_id,
        "name": name,
        "content_type": content_type or "application/octet-stream",
        "size": len(data),
        "data_b64": base64.b64encode(data).decode("ascii"),
    }


def _read_capped(path: str, max_bytes: int) -> bytes | None:
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


DEFAULT_DIRECT_UPLOAD_FAILURE_TEMPLATE = (
    "### ⚠️ Attachment not sent\n\n"
    "{problem}. The message was not sent, so the model does not answer without it; "
    "remove the attachment or ask an admin to raise the limit."
)
DIRECT_UPLOAD_FAILURE_PLACEHOLDERS = frozenset({"problem"})


def check_direct_upload_failure_template(template: str | None) -> str | None:
    """The ``DIRECT_UPLOAD_FAILURE_TEMPLATE`` valve: Markdown with ``{problem}`` only.

    Refuses (``ValueError``, which the valves form reports under the valve's name) a broken
    template or another placeholder, so a bad template is caught when saved, not when a user's
    attachment fails.
    """
    if template is None or not template.strip():
        return None
    try:
        parts = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)]
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write a literal brace twice") from None
    for name, spec, conversion in parts:
        if name is None:
            continue
        if name not in DIRECT_UPLOAD_FAILURE_PLACEHOLDERS or spec or conversion:
            raise ValueError(f"unknown placeholder {{{name}}} (use {{problem}})")
    return template


def direct_upload_failure_markdown(problem: str, template: str | None = None) -> str:
    """The answer shown instead of a reply when an attachment cannot be sent."""
    return (template or DEFAULT_DIRECT_UPLOAD_FAILURE_TEMPLATE).format(problem=problem)


async def _storage_user(owui: OwuiContext, fallback_email: str) -> Any:
    """The chat's user, or a low-privilege ('pending') fallback owner for chats without one."""
    from open_webui.models.users import Users  # type: ignore[import-not-found]

    user_id = str(owui.user.get("id", ""))
    user = await _awaited(Users.get_user_by_id(user_id)) if user_id else None
    if user is not None:
        return user
    if user_id:
        raise FileStorageUnavailableError("the requesting user was not found in Open WebUI")
    user = await _awaited(Users.get_user_by_email(fallback_email))
    if user is None:
        user = await _awaited(
            Users.insert_new_user(
                FALLBACK_USER_ID, "pipe-service storage", fallback_email, role="pending"
            )
        )
    if user is None:
        raise FileStorageUnavailableError("the fallback storage user could not be created")
    return user


async def save_file_in_owui(
    owui: OwuiContext,
    *,
    name: str,
    content_type: str,
    data: bytes,
    fallback_email: str = "pipe-service-storage@system.local",
) -> dict[str, str]:
    """Save ``data`` with Open WebUI's ``upload_file_handler``; ``{id,url,name,content_type}``."""
    try:
        from fastapi import UploadFile  # type: ignore[import-not-found]
        from open_webui.routers.files import (  # type: ignore[import-not-found]
            upload_file_handler,
        )
    except ImportError as exc:
        raise FileStorageUnavailableError(
            "Open WebUI file storage is not available (the shim runs outside Open WebUI)"
        ) from exc
    if owui.request is None:
        raise FileStorageUnavailableError("Open WebUI did not pass __request__")
    user = await _storage_user(owui, fallback_email)
    upload = UploadFile(
        file=io.BytesIO(data), filename=name, headers={"content-type": content_type}
    )
    item = upload_file_handler(
        owui.request,
        file=upload,
        metadata={"source": "pipe-service", "chat_id": owui.chat_id},
        # Their defaults are FastAPI Query objects: pass them explicitly.
        process=False,
        process_in_background=False,
        user=user,
    )
    if inspect.isawaitable(item):
        item = await item
    url = str(owui.request.app.url_path_for("get_file_content_by_id", id=item.id))
    return {"id": str(item.id), "url": url, "name": name, "content_type": content_type}


async def store_file(owui: OwuiContext, frame: Mapping[str, Any]) -> dict[str, Any]:
    """Handle a ``store_file`` frame: save, show it in the message; the ``file_stored`` reply."""
    call_id = str(frame.get("call_id", ""))
    name = str(frame.get("name") or "file")
    content_type = str(frame.get("content_type") or "application/octet-stream")
    try:
        data = base64.b64decode(str(frame.get("data_b64", "")), validate=True)
        stored = await save_file_in_owui(
            owui,
            name=name,
            content_type=content_type,
            data=data,
            fallback_email=owui.fallback_email,
        )
    except asyncio.CancelledError:
        raise
    except binascii.Error as exc:
        return {"type": "file_stored", "call_id": call_id, "error": f"bad base64: {exc}"}
    except FileStorageUnavailableError as exc:
        return {"type": "file_stored", "call_id": call_id, "error": str(exc)}
    except Exception as exc:  # Open WebUI storage failed; the sidecar tells the user
        log.warning("saving a file in Open WebUI failed: %s", type(exc).__name__)
        return {"type": "file_stored", "call_id": call_id, "error": _error_text(exc)}
    if owui.emit is not None:
        kind = "image" if content_type.startswith("image/") else "file"
        await owui.emit({"type": "files", "data": {"files": [{"type": kind, **stored}]}})
    return {"type": "file_stored", "call_id": call_id, "file": stored}


# -- one WebSocket session -------------------------------------------------------------------------


class SidecarGoneError(Exception):
    """The sidecar stopped answering or closed before a terminal frame."""


class Conversation:
    """One chat's WebSocket to a sidecar: frames in, replies out, side tasks tracked.

    Replies from concurrent side tasks (tools run in parallel) are serialised by a lock;
    :meth:`aclose` cancels the side tasks and closes the socket, which cancels the request
    in the sidecar.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        address: str,
        max_client_frame_bytes: int,
    ) -> None:
        self.address = address
        self.max_client_frame_bytes = max_client_frame_bytes
        self._session = session
        self._ws = ws
        self._arrived = _receive_queue(ws)
        self._send_lock = asyncio.Lock()
        self._side_tasks: set[asyncio.Task[None]] = set()

    async def send(self, frame: Mapping[str, Any]) -> None:
        await self.send_text(json.dumps(frame, default=str))

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            await self._ws.send_str(text)

    def frame_arrived(self) -> bool:
        """Whether the next frame is a text frame that has already arrived, so that
        :meth:`receive` returns it without waiting. False where aiohttp's receive queue cannot
        be read (then the shim simply forwards frame by frame)."""
        arrived = self._arrived
        return bool(arrived) and arrived[0][0].type == aiohttp.WSMsgType.TEXT

    async def receive(self, idle_s: float) -> dict[str, Any] | None:
        """The next frame, or ``None`` when the sidecar closed; bounded by ``idle_s``."""
        if self.frame_arrived():
            # No idle bound to arm: the frame is here. (aiohttp's timeout context costs as
            # much as the rest of a receive.)
            message = await self._ws.receive()
        else:
            try:
                message = await self._ws.receive(timeout=idle_s)
            except TimeoutError:
                raise SidecarGoneError(f"no frame from the sidecar for {idle_s:g} s") from None
        if message.type is aiohttp.WSMsgType.TEXT:
            try:
                frame = json.loads(message.data)
            except ValueError:
                raise SidecarGoneError("the sidecar sent a frame that is not JSON") from None
            if not isinstance(frame, dict):
                raise SidecarGoneError("the sidecar sent a frame that is not an object")
            return frame
        if message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            return None
        if message.type is aiohttp.WSMsgType.ERROR:
            raise SidecarGoneError(f"WebSocket error: {message.data}")
        raise SidecarGoneError(f"unexpected WebSocket message {message.type.name}")

    def reply_later(self, handler: Awaitable[dict[str, Any]]) -> None:
        """Run ``handler`` in the background and send its reply frame when it is ready."""
        task = asyncio.ensure_future(self._reply(handler))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _reply(self, handler: Awaitable[dict[str, Any]]) -> None:
        reply = await handler
        try:
            await self.send(reply)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            # The conversation ended meanwhile (stop button, sidecar gone): nobody to tell.
            log.debug("dropping a reply: %s", type(exc).__name__)

    async def wait_closed(self) -> None:
        """Give the sidecar a moment to close first (it does after a terminal frame)."""
        deadline = time.monotonic() + CLOSE_WAIT_S
        while not self._ws.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                message = await self._ws.receive(timeout=remaining)
            except TimeoutError:
                return
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return

    async def aclose(self) -> None:
        """Cancel side tasks, close the socket and the session (idempotent)."""
        for task in list(self._side_tasks):
            task.cancel()
        if self._side_tasks:
            await asyncio.gather(*self._side_tasks, return_exceptions=True)
        try:
            await self._ws.close()
        finally:
            await self._session.close()


def _receive_queue(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """aiohttp's queue of received messages (``_reader._buffer``: a deque of ``(message,
    size)``, aiohttp 3.10 to 3.14), read only to see whether a frame has already arrived; None when
    this aiohttp keeps it elsewhere."""
    arrived = getattr(getattr(ws, "_reader", None), "_buffer", None)
    return arrived if isinstance(arrived, collections.deque) else None


async def open_conversation(
    addresses: list[SidecarAddress], *, token: str, connect_timeout_s: float
) -> Conversation:
    """Connect to the first address that completes ``hello``/``welcome``; fail over in order.

    Raises :class:`SidecarUnavailableError` listing every address with its reason.
    """
    failures: list[tuple[str, str]] = []
    for address in addresses:
        session = _session(address, connect_timeout_s)
        try:
            async with asyncio.timeout(connect_timeout_s):
                ws = await session.ws_connect(
                    address.ws_url,
                    headers=_auth_headers(token),
                    max_msg_size=MAX_SERVER_FRAME_BYTES,
                    compress=0,  # a local socket: deflate would only cost CPU on both ends
                    autoclose=True,
                    autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_WAIT_S),
                )
                conversation = Conversation(
                    session,
                    ws,
                    address=address.text,
                    max_client_frame_bytes=DEFAULT_MAX_CLIENT_FRAME_BYTES,
                )
                try:
                    await conversation.send(
                        {
                            "type": "hello",
                            "protocols": list(PROTOCOL_VERSIONS),
                            "shim_version": SHIM_VERSION,
                        }
                    )
                    welcome = await conversation.receive(connect_timeout_s)
                except BaseException:
                    await conversation.aclose()
                    raise
        except (aiohttp.ClientError, OSError, TimeoutError, SidecarGoneError, ValueError) as exc:
            await session.close()
            failures.append((address.text, _reason(exc)))
            continue
        problem = _welcome_problem(welcome)
        if problem is None:
            assert welcome is not None
            limits = welcome.get("limits") or {}
            conversation.max_client_frame_bytes = int(
                limits.get("max_client_frame_bytes", DEFAULT_MAX_CLIENT_FRAME_BYTES)
            )
            return conversation
        await conversation.aclose()
        failures.append((address.text, problem))
    raise SidecarUnavailableError(failures)


def _welcome_problem(frame: Mapping[str, Any] | None) -> str | None:
    if frame is None:
        return "closed the connection during the handshake"
    if frame.get("type") == "error":
        return f"refused the session: {str(frame.get('message', ''))[:300]}"
    if frame.get("type") != "welcome" or frame.get("protocol") not in PROTOCOL_VERSIONS:
        return f"does not speak shim protocol {list(PROTOCOL_VERSIONS)} (got {frame.get('type')!r})"
    return None


# -- user-facing messages -----------------------------------------------------------------------


def unreachable_markdown(failures: list[tuple[str, str]], *, admin: bool = True) -> str:
    """Why no sidecar answered: the addresses and reasons for admins, a plain notice for users
    (socket paths and ports are the deployment's business, not theirs)."""
    if not admin:
        log.warning(
            "no pipe-service sidecar reachable: %s",
            "; ".join(f"{address}: {reason}" for address, reason in failures),
        )
        return (
            "### ⚠️ The AI service is not available\n\n"
            "It could not be reached just now. Try again in a moment; if it keeps failing, "
            "tell your administrator."
        )
    lines = "\n".join(f"- `{address}`: {reason}" for address, reason in failures)
    return (
        "### ⚠️ The pipe-service sidecar is not reachable\n\n"
        f"Tried:\n{lines}\n\n"
        "Start it on the Open WebUI host with `pipe-service serve`, or fix **SIDECAR_ADDRESSES** "
        "(and **SIDECAR_TOKEN** for TCP) in this function's valves."
    )


def busy_markdown(frame: Mapping[str, Any]) -> str:
    """The sidecar's busy message (already Markdown), with the retry delay if it lacks one."""
    message = str(frame.get("message") or "")
    retry = frame.get("retry_after_s")
    seconds = str(math.ceil(float(retry))) if isinstance(retry, int | float) else None
    hint = f"retry in {seconds} s" if seconds else "retry in a moment"
    if not message:
        return f"### ⚠️ Server busy\n\nThe pipe-service sidecar is at capacity: {hint}."
    if seconds is None or seconds in message:
        return message
    return f"{message}\n\nServer busy: {hint}."


def reasoning_details(reasoning: str) -> str:
    """Reasoning as Open WebUI renders it in a saved message (a collapsed block)."""
    lines = html.escape(reasoning).splitlines()
    quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
    return (
        '<details type="reasoning" done="true">\n'
        f"<summary>Thought</summary>\n{quoted}\n</details>\n"
    )


def _reasoning_chunk(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"reasoning_content": text}}]}


def _tool_call_chunks(calls: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Passthrough tool calls as Open WebUI's native loop expects them (A4)."""
    deltas = [
        {
            "index": index,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": call.get("name"), "arguments": call.get("arguments") or ""},
        }
        for index, call in enumerate(calls)
    ]
    return [
        {"choices": [{"index": 0, "delta": {"tool_calls": deltas}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]


# -- Open WebUI model entries (who sees the models, with which capabilities) -----------------------
#
# Open WebUI 0.12.4 lists a model without a row in its ``model`` table to admins only. The shim
# keeps one row per catalog model, in step with the catalog: new models get a row with the
# admin's access policy, removed ones are deactivated (hidden), returning ones reactivated.
# Each row remembers what the shim last wrote (``meta.pipe_service.synced``); a field whose
# current value differs from that was edited by an admin and is left alone unless
# ``MODEL_SYNC_OVERWRITE_EDITS`` is on. An entry the admin deleted stays deleted: the sync
# remembers the ids it created (:class:`SyncState`, kept in the ``MODEL_SYNC_STATE`` valve), so
# one of them missing later is a deletion, not a new model (``MODEL_RESYNC`` re-creates them).
# The plan is pure (:func:`plan_model_entries`); applying
# it is the job of :class:`OwuiModelEntries` (Open WebUI's internal API, version-checked) or of
# ``pipe-service shim sync-models`` (Open WebUI's REST API).

SYNC_META_KEY = "pipe_service"
SUPPORTED_OWUI_VERSIONS = ("0.12.",)
"""Open WebUI versions whose internal model API :class:`OwuiModelEntries` was written against."""

ModelAccess = Literal["public", "groups", "admins"]
_MISSING: Any = object()


@dataclass(frozen=True)
class SyncPolicy:
    """The admin's choices for model entries (from the valves)."""

    access: ModelAccess = "admins"
    group_ids: tuple[str, ...] = ()
    update_capabilities: bool = True
    update_descriptions: bool = False
    update_images: bool = True
    overwrite_edits: bool = False


@dataclass(frozen=True)
class SyncState:
    """What the sync remembers between runs (the ``MODEL_SYNC_STATE`` valve, JSON).

    ``created``: entry ids the sync made or manages; one of them missing from Open WebUI was
    deleted by an admin and moves to ``deleted``, which the sync never re-creates.
    """

    created: frozenset[str] = frozenset()
    deleted: frozenset[str] = frozenset()

    @classmethod
    def from_text(cls, text: str) -> SyncState:
        """Read the valve; anything unreadable counts as empty (the state is only a memory)."""
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {}
        if not isinstance(data, Mapping):
            data = {}

        def ids(key: str) -> frozenset[str]:
            value = data.get(key)
            items = value if isinstance(value, list) else []
            return frozenset(item for item in items if isinstance(item, str))

        return cls(created=ids("created"), deleted=ids("deleted"))

    def to_text(self) -> str:
        return json.dumps(
            {"created": sorted(self.created), "deleted": sorted(self.deleted)},
            separators=(",", ":"),
        )


def note_deletions(
    function_id: str,
    state: SyncState,
    existing: Mapping[str, Mapping[str, Any]],
    *,
    resync: bool = False,
) -> SyncState:
    """``state`` with this Function's entries that an admin deleted moved to ``deleted``.

    Entries that carry the shim's mark count as created (entries synced before the state
    existed). ``resync`` forgets the deletions, so the next plan re-creates those entries.
    """
    prefix = f"{function_id}."
    ours = {
        model_id
        for model_id, entry in existing.items()
        if model_id.startswith(prefix)
        and isinstance(entry.get("meta"), Mapping)
        and isinstance(entry["meta"].get(SYNC_META_KEY), Mapping)
    }
    gone = {model_id for model_id in state.created if model_id not in existing}
    deleted = frozenset() if resync else state.deleted | gone
    return SyncState(created=frozenset(state.created - gone) | ours, deleted=deleted)


def state_after(state: SyncState, changes: list[EntryChange]) -> SyncState:
    """``state`` once ``changes`` are applied: the entries created are remembered."""
    made = {change.model_id for change in changes if change.action == "create"}
    return SyncState(created=state.created | made, deleted=state.deleted - made)


@dataclass(frozen=True)
class EntryChange:
    """One model entry to create or update; ``form`` is Open WebUI's ``ModelForm`` shape."""

    action: Literal["create", "update"]
    model_id: str
    form: dict[str, Any]
    access_changed: bool = False


def access_grants_for(policy: SyncPolicy) -> list[dict[str, str]]:
    """Read grants for ``policy``: everyone (user ``*``), the named groups, or none (admins)."""
    if policy.access == "public":
        return [{"principal_type": "user", "principal_id": "*", "permission": "read"}]
    if policy.access == "groups":
        return [
            {"principal_type": "group", "principal_id": group_id, "permission": "read"}
            for group_id in policy.group_ids
        ]
    return []


def _grant_keys(grants: Any) -> list[list[str]]:
    """Grants in a comparable form (Open WebUI returns them with ids and timestamps)."""
    keys = []
    for grant in grants if isinstance(grants, list) else []:
        if isinstance(grant, Mapping):
            keys.append(
                [
                    str(grant.get("principal_type", "")),
                    str(grant.get("principal_id", "")),
                    str(grant.get("permission", "")),
                ]
            )
    return sorted(keys)


def _desired_fields(row: Mapping[str, Any], policy: SyncPolicy) -> dict[str, Any]:
    """The managed fields the catalog says a model's entry should have (None: not managed)."""
    owui = row.get("open_webui") if isinstance(row.get("open_webui"), Mapping) else {}
    capabilities = owui.get("capabilities")
    return {
        "name": str(row.get("name") or row.get("id")),
        "description": (owui.get("description") or None) if policy.update_descriptions else None,
        "profile_image_url": (owui.get("profile_image_url") or None)
        if policy.update_images
        else None,
        "capabilities": dict(capabilities)
        if policy.update_capabilities and isinstance(capabilities, Mapping)
        else None,
        "access_grants": _grant_keys(access_grants_for(policy)),
    }


def _current_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
    return {
        "name": entry.get("name"),
        "description": meta.get("description"),
        "profile_image_url": meta.get("profile_image_url"),
        "capabilities": meta.get("capabilities"),
        "access_grants": _grant_keys(entry.get("access_grants")),
    }


def _form(
    model_id: str, fields: Mapping[str, Any], meta: Mapping[str, Any], params: Any, active: bool
) -> dict[str, Any]:
    meta = dict(meta)
    for key in ("description", "profile_image_url", "capabilities"):
        if fields.get(key) is not None:
            meta[key] = fields[key]
    return {
        "id": model_id,
        "base_model_id": None,
        "name": fields["name"],
        "meta": meta,
        "params": dict(params) if isinstance(params, Mapping) else {},
        "access_grants": [
            {"principal_type": kind, "principal_id": principal, "permission": permission}
            for kind, principal, permission in fields["access_grants"]
        ],
        "is_active": active,
    }


def plan_model_entries(
    function_id: str,
    catalog: list[Mapping[str, Any]],
    existing: Mapping[str, Mapping[str, Any]],
    policy: SyncPolicy,
    deleted: frozenset[str] = frozenset(),
) -> list[EntryChange]:
    """What to write so Open WebUI's entries match ``catalog`` (rows ``{id: sub id, name,
    open_webui}``); ``existing`` maps model ids to entries (``ModelModel`` dumps).

    Pure: no I/O. Entries the shim did not create are only filled where empty; the admin's
    edits survive unless ``policy.overwrite_edits``; ids in ``deleted`` (entries an admin
    deleted, see :func:`note_deletions`) are not re-created.
    """
    changes: list[EntryChange] = []
    listed: set[str] = set()
    for row in catalog:
        model_id = f"{function_id}.{row['id']}"
        listed.add(model_id)
        desired = _desired_fields(row, policy)
        entry = existing.get(model_id)
        if entry is None and model_id in deleted:
            continue  # the admin deleted it: their choice stands until MODEL_RESYNC
        if entry is None:
            synced = {key: value for key, value in desired.items() if value is not None}
            meta = {SYNC_META_KEY: {"synced": synced, "hidden": False}}
            form = _form(model_id, desired, meta, {}, True)
            changes.append(EntryChange("create", model_id, form, access_changed=True))
            continue
        change = _update_for(model_id, entry, desired, policy)
        if change is not None:
            changes.append(change)
    prefix = f"{function_id}."
    for model_id, entry in existing.items():
        if model_id in listed or not model_id.startswith(prefix):
            continue
        meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
        mark = meta.get(SYNC_META_KEY)
        if not isinstance(mark, Mapping) or not entry.get("is_active", True):
            continue  # not ours, or already hidden (by us or by the admin)
        fields = _current_fields(entry)
        new_meta = {**meta, SYNC_META_KEY: {**mark, "hidden": True}}
        form = _form(model_id, fields, new_meta, entry.get("params"), False)
        changes.append(EntryChange("update", model_id, form))
    return changes


def _update_for(
    model_id: str, entry: Mapping[str, Any], desired: Mapping[str, Any], policy: SyncPolicy
) -> EntryChange | None:
    meta = entry.get("meta") if isinstance(entry.get("meta"), Mapping) else {}
    mark = meta.get(SYNC_META_KEY)
    ours = isinstance(mark, Mapping)
    synced = dict(mark.get("synced") or {}) if ours else {}
    current = _current_fields(entry)
    chosen = dict(current)
    for key, want in desired.items():
        if want is None:
            continue
        have = current[key]
        last = synced.get(key, _MISSING)
        if key == "access_grants" and not ours and not policy.overwrite_edits:
            continue  # an entry the admin made: its access is theirs
        untouched = have in (None, "", {}) or (last is not _MISSING and have == last)
        if policy.overwrite_edits or untouched:
            chosen[key] = want
            synced[key] = want
    hidden_by_us = ours and bool(mark.get("hidden"))
    active = bool(entry.get("is_active", True)) or hidden_by_us
    new_mark = {"synced": synced, "hidden": False}
    if chosen == current and active == entry.get("is_active", True) and mark == new_mark:
        return None
    new_meta = {**meta, SYNC_META_KEY: new_mark}
    form = _form(model_id, chosen, new_meta, entry.get("params"), active)
    return EntryChange(
        "update",
        model_id,
        form,
        access_changed=chosen["access_grants"] != current["access_grants"],
    )


def owui_function_id(module_name: str) -> str | None:
    """This Function's id from the module name Open WebUI 0.12 loads it under
    (``function_<id>_<32 hex>``); ``None`` when loaded some other way."""
    match = re.fullmatch(r"function_(.+)_[0-9a-f]{32}", module_name)
    return match.group(1) if match else None


class OwuiVersionError(Exception):
    """This Open WebUI's internal model API is not one the shim knows."""


class OwuiModelEntries:
    """The one adapter onto Open WebUI's internal model API (``open_webui.models.*``).

    Used only where REST is not an option: from ``pipes()``, inside Open WebUI's process.
    Refuses (:class:`OwuiVersionError`) on a version outside ``SUPPORTED_OWUI_VERSIONS``.
    """

    def __init__(self) -> None:
        try:
            from open_webui.env import VERSION  # type: ignore[import-not-found]
        except ImportError as exc:
            raise OwuiVersionError("not running inside Open WebUI") from exc
        if not str(VERSION).startswith(SUPPORTED_OWUI_VERSIONS):
            raise OwuiVersionError(
                f"Open WebUI {VERSION} is not a version this shim syncs model entries with "
                f"(known: {', '.join(v + 'x' for v in SUPPORTED_OWUI_VERSIONS)}); run "
                "`pipe-service shim sync-models` (REST) after catalog changes instead"
            )
        from open_webui.models.access_grants import (  # type: ignore[import-not-found]
            AccessGrants,
        )
        from open_webui.models.functions import Functions  # type: ignore[import-not-found]
        from open_webui.models.groups import Groups  # type: ignore[import-not-found]
        from open_webui.models.models import (  # type: ignore[import-not-found]
            ModelForm,
            Models,
        )
        from open_webui.models.users import Users  # type: ignore[import-not-found]

        self.version = str(VERSION)
        self._access = AccessGrants
        self._functions = Functions
        self._groups = Groups
        self._form = ModelForm
        self._models = Models
        self._users = Users

    async def entries(self) -> dict[str, dict[str, Any]]:
        rows = await self._models.get_all_models()
        return {row.id: row.model_dump(mode="json") for row in rows}

    async def group_ids(self, names_or_ids: list[str]) -> tuple[str, ...]:
        """Group ids for the valve's names or ids; unknown ones are logged and skipped."""
        groups = await self._groups.get_all_groups()
        by_key = {group.id: group.id for group in groups}
        by_key |= {group.name.lower(): group.id for group in groups}
        found = []
        for name in names_or_ids:
            group_id = by_key.get(name) or by_key.get(name.lower())
            if group_id is None:
                log.warning("MODEL_ACCESS_GROUPS: no Open WebUI group %r", name[:64])
            else:
                found.append(group_id)
        return tuple(found)

    async def load_state(self, function_id: str) -> tuple[SyncState, bool]:
        """The stored ``MODEL_SYNC_STATE`` and ``MODEL_RESYNC`` valves, read from the database
        (the instance's valves may predate the last sync's write)."""
        stored = await self._functions.get_function_valves_by_id(function_id) or {}
        state = SyncState.from_text(str(stored.get("MODEL_SYNC_STATE") or ""))
        return state, bool(stored.get("MODEL_RESYNC"))

    async def save_state(self, function_id: str, state: SyncState) -> None:
        """Store ``state`` in the Function's ``MODEL_SYNC_STATE`` valve (``MODEL_RESYNC`` off).

        Read-modify-write of the stored valves, so the admin's other values stay as they are.
        """
        stored = await self._functions.get_function_valves_by_id(function_id) or {}
        values = {**stored, "MODEL_SYNC_STATE": state.to_text(), "MODEL_RESYNC": False}
        if await self._functions.update_function_valves_by_id(function_id, values) is None:
            raise RuntimeError("Open WebUI did not store the MODEL_SYNC_STATE valve")

    async def apply(self, changes: list[EntryChange]) -> None:
        owner = await self._users.get_super_admin_user() or await self._users.get_first_user()
        for change in changes:
            form = self._form.model_validate(change.form)
            if change.action == "create":
                if owner is None:
                    raise RuntimeError("Open WebUI has no admin yet to own the model entries")
                await self._models.insert_new_model(form, owner.id)
                continue
            await self._models.update_model_by_id(change.model_id, form)
            if change.access_changed:
                await self._access.set_access_grants(
                    "model", change.model_id, change.form["access_grants"]
                )


# -- the pipe ---------------------------------------------------------------------------------

_REQUEST_SCOPED_VALVES = (
    "ENABLE_REASONING",
    "REASONING_EFFORT",
    "REASONING_SUMMARY_MODE",
    "TASK_MODEL_REASONING_EFFORT",
    "THINKING_OUTPUT_MODE",
    "TOOL_EXECUTION_MODE",
    "ENABLE_WEB_SEARCH",
    "WEB_SEARCH_MAX_RESULTS",
    "AUTO_CONTEXT_TRIMMING",
    "SEND_USER_ID",
    "SEND_SESSION_ID",
    "SEND_METADATA",
    "SHOW_FINAL_USAGE_STATUS",
    "USAGE_STATUS_STYLE",
    "ENABLE_STRICT_TOOL_CALLING",
    "ENABLE_WEB_FETCH",
    "ENABLE_DATETIME",
    "ENABLE_ADVISOR",
    "ENABLE_SUBAGENT",
    "ENABLE_SEARCH_MODELS",
    "WEB_SEARCH_MODE",
    "USE_MODEL_MAX_OUTPUT_TOKENS",
    "MAX_OUTPUT_TOKENS",
    "FALLBACK_MODELS",
    "ZDR_ENFORCE",
    "MAX_FUNCTION_CALL_LOOPS",
    "SHOW_TOOL_CARDS",
    "END_USER_ID_SOURCE",
    "SEND_CHAT_ID",
    "SEND_MESSAGE_ID",
    "ALLOW_USER_ZDR_OVERRIDE",
    "USAGE_STATUS_ICON_SET",
    "ERROR_TEMPLATE",
    "STREAM_INTERRUPTED_TEMPLATE",
    "ENABLE_ANTHROPIC_PROMPT_CACHING",
    "ANTHROPIC_PROMPT_CACHE_TTL",
    "ENABLE_ANTHROPIC_INTERLEAVED_THINKING",
    "GEMINI_THINKING_BUDGET",
    "DEFAULT_LLM_ENDPOINT",
    "FORCE_CHAT_COMPLETIONS_MODELS",
    "FORCE_RESPONSES_MODELS",
    "AUTO_FALLBACK_CHAT_COMPLETIONS",
    "SEND_CACHE_SESSION_ID",
)

# Open WebUI 0.12.4's built-in tools that a chat feature toggle (or an attachment) turns on;
# BUILTIN_TOOLS=chat keeps only these, and only when the user enabled the feature.
BUILTIN_TOOLS_BY_FEATURE: dict[str, tuple[str, ...]] = {
    "web_search": ("search_web", "fetch_url"),
    "image_generation": ("generate_image", "edit_image"),
    "code_interpreter": ("execute_code",),
    "memory": (
        "search_memories",
        "list_memory_paths",
        "read_memory_path",
        "list_memories",
        "update_memory",
        "add_memory",
        "replace_memory_content",
        "delete_memory",
    ),
}
CHAT_FILE_TOOLS = ("list_chat_files", "query_chat_files", "grep_chat_files", "view_file")

_FILE_FIELDS = ("type", "id", "name", "url", "content_type", "size", "collection_name")


class Pipe:
    class Valves(BaseModel):
        """Admin settings. Request-scoped ones left empty use the sidecar's own defaults."""

        SIDECAR_ADDRESSES: str = Field(
            default="http://127.0.0.1:8765",
            description=(
                "Comma-separated sidecar addresses, tried in order (failover): "
                "unix:/path/to/pipe-service.sock or http://127.0.0.1:8765."
            ),
        )
        SIDECAR_TOKEN: str = Field(
            default="",
            description=(
                "Bearer token for TCP addresses (the sidecar's api_token); stored encrypted "
                "with WEBUI_SECRET_KEY."
            ),
            json_schema_extra=_PASSWORD_INPUT,
        )
        CONNECT_TIMEOUT_S: float = Field(
            default=5.0, gt=0, le=120, description="Seconds to connect and handshake, per address."
        )
        IDLE_TIMEOUT_S: float = Field(
            default=600.0,
            gt=0,
            le=3600,
            description="Longest silence allowed between two frames of a running chat.",
        )
        MODEL_CACHE_TTL_S: float = Field(
            default=300.0, ge=0, le=86400, description="Seconds the model list is cached."
        )
        MODEL_ACCESS: ModelAccess = Field(
            default="admins",
            description=(
                "Who sees the models (the seed's NEW_MODEL_ACCESS_CONTROL): public (every user), "
                "groups (MODEL_ACCESS_GROUPS) or admins. Applies to new models and to models "
                "whose access an admin has not edited."
            ),
            json_schema_extra=_select("public", "groups", "admins"),
        )
        MODEL_ACCESS_GROUPS: str = Field(
            default="",
            description="Comma-separated Open WebUI group names or ids for MODEL_ACCESS=groups.",
        )
        SYNC_MODEL_ENTRIES: bool = Field(
            default=True,
            description=(
                "Keep Open WebUI's model entries in step with the catalog (new models appear, "
                "removed ones are hidden). Off: only admins see models without an entry."
            ),
        )
        UPDATE_MODEL_CAPABILITIES: bool = Field(
            default=True,
            description="Set vision, file upload, web search, … from the catalog.",
        )
        UPDATE_MODEL_DESCRIPTIONS: bool = Field(
            default=False, description="Set model descriptions from the catalog."
        )
        UPDATE_MODEL_IMAGES: bool = Field(
            default=True,
            description="Set model icons from the sidecar (its model_entries.icon_urls).",
        )
        MODEL_SYNC_OVERWRITE_EDITS: bool = Field(
            default=False,
            description=(
                "Overwrite an admin's own edits of a model entry (name, icon, description, "
                "capabilities, access) with the catalog's values at the next sync."
            ),
        )
        MODEL_RESYNC: bool = Field(
            default=False,
            description=(
                "Re-create the model entries an admin deleted at the next sync (deleted entries "
                "otherwise stay deleted); switches itself off once done."
            ),
        )
        MODEL_SYNC_STATE: str = Field(
            default="",
            description=(
                "Kept by the model sync (JSON): the entries it created and those an admin "
                "deleted. Leave as is; use MODEL_RESYNC to bring deleted entries back."
            ),
        )
        DIRECT_UPLOAD_MAX_MB: int = Field(
            default=20,
            ge=1,
            le=500,
            description="Largest attachment read from Open WebUI storage and sent natively "
            "(files the Direct Uploads filter passed on).",
        )
        DIRECT_UPLOAD_FAILURE_TEMPLATE: str | None = Field(
            default=None,
            description=(
                "Markdown shown instead of an answer when an attachment cannot be sent (too "
                "large, unreadable); placeholder {problem}. Empty: the built-in wording."
            ),
        )
        FALLBACK_STORAGE_EMAIL: str = Field(
            default="pipe-service-storage@system.local",
            description="Owner (created as a 'pending' user) of generated files when a chat "
            "has no user, e.g. an API automation.",
        )
        ENABLE_REASONING: bool | None = Field(
            default=None,
            description="Request reasoning from models that support it. Empty: sidecar default.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        REASONING_EFFORT: Effort | None = Field(
            default=None,
            description="Default reasoning effort. Empty: sidecar default.",
            json_schema_extra=_EFFORT_SELECT,
        )
        REASONING_SUMMARY_MODE: SummaryMode | None = Field(
            default=None,
            description="Reasoning summary detail. Empty: sidecar default.",
            json_schema_extra=_SUMMARY_SELECT,
        )
        GEMINI_THINKING_BUDGET: int | None = Field(
            default=None,
            ge=0,
            le=32768,
            description="Thinking tokens for Gemini 2.5 at medium effort (scaled by effort; "
            "0 sends the effort instead).",
        )
        TASK_MODEL_REASONING_EFFORT: Effort | None = Field(
            default=None,
            description="Effort for titles, tags and follow-ups. Empty: sidecar default.",
            json_schema_extra=_EFFORT_SELECT,
        )
        THINKING_OUTPUT_MODE: ThinkingMode | None = Field(
            default=None,
            description="Where thinking shows: the reasoning box, status lines, or both.",
            json_schema_extra=_THINKING_SELECT,
        )
        TOOL_EXECUTION_MODE: ToolMode | None = Field(
            default=None,
            description=(
                "pipeline: the sidecar runs the tool loop (tools execute here, in Open WebUI); "
                "passthrough: Open WebUI's native tool loop. Empty: pipeline."
            ),
            json_schema_extra=_TOOL_MODE_SELECT,
        )
        ENABLE_WEB_SEARCH: bool | None = Field(
            default=None,
            description="Add OpenRouter web search to requests. Empty: sidecar default.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        WEB_SEARCH_MAX_RESULTS: int | None = Field(
            default=None, ge=1, le=25, description="Results per web search (1-25)."
        )
        AUTO_CONTEXT_TRIMMING: bool | None = Field(
            default=None,
            description="Let OpenRouter trim long chats (middle-out). Empty: sidecar default.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SEND_USER_ID: bool | None = Field(
            default=None,
            description="Send the Open WebUI user id to OpenRouter as `user`.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SEND_SESSION_ID: bool | None = Field(
            default=None,
            description="Send the session id to OpenRouter as `session_id`.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SEND_METADATA: bool | None = Field(
            default=None,
            description="Send user/chat/message ids to OpenRouter as `metadata`.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SHOW_FINAL_USAGE_STATUS: bool | None = Field(
            default=None,
            description="Show time, tokens and cost under each reply. Empty: shown.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        USAGE_STATUS_ICON_SET: str | None = Field(
            default=None,
            description=(
                "Icons of the icon-style usage line, comma-separated: time, cost, total, "
                "input, output, cached, reasoning (default ⧗,$,⇅,▲,▼,↺,▽)."
            ),
        )
        END_USER_ID_SOURCE: Literal["id", "email", "name"] | None = Field(
            default=None,
            description="What SEND_USER_ID sends as `user`: the user id, email or name.",
            json_schema_extra=_select("id", "email", "name"),
        )
        SEND_CHAT_ID: bool | None = Field(
            default=None,
            description="Send the chat id to OpenRouter as metadata.chat_id.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SEND_MESSAGE_ID: bool | None = Field(
            default=None,
            description="Send the message id to OpenRouter as metadata.message_id.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ALLOW_USER_ZDR_OVERRIDE: bool | None = Field(
            default=None,
            description="Let users ask for zero-data-retention routing (their REQUEST_ZDR); "
            "when off, such a request is refused with an error naming the valve.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ERROR_TEMPLATE: str | None = Field(
            default=None,
            description=(
                "Markdown shown instead of an answer when a request fails; placeholders "
                "{title} {message} {explanation} {detail} {retry_hint} {error_id} {status} "
                "{kind}. Put support contacts in the text. Empty: the sidecar's template."
            ),
        )
        STREAM_INTERRUPTED_TEMPLATE: str | None = Field(
            default=None,
            description=(
                "Markdown appended after a partial answer that failed mid-stream; same "
                "placeholders. Empty: the sidecar's template."
            ),
        )
        BUILTIN_TOOLS: str = Field(
            default="chat",
            description=(
                "Which of Open WebUI's built-in tools reach the model: chat (those of the "
                "features the user turned on for the chat: web search, image generation, code "
                "interpreter, memory; and the file tools when files are attached), all, none, "
                "or a comma-separated list of tool names."
            ),
        )
        SHOW_TOOL_CARDS: bool | None = Field(
            default=None,
            description="Show each tool run as a collapsed card with its arguments and result.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_STRICT_TOOL_CALLING: bool | None = Field(
            default=None,
            description="Send tool schemas as strict JSON Schema. Empty: sidecar default (on).",
            json_schema_extra=_ON_OFF_SELECT,
        )
        MAX_FUNCTION_CALL_LOOPS: int | None = Field(
            default=None,
            ge=1,
            le=100,
            description="Tool rounds per reply in pipeline mode (1-100). Empty: sidecar default.",
        )
        WEB_SEARCH_MODE: Literal["tool", "plugin"] | None = Field(
            default=None,
            description="Web search as the openrouter:web_search tool or the web plugin.",
            json_schema_extra=_select("tool", "plugin"),
        )
        ENABLE_WEB_FETCH: bool | None = Field(
            default=None,
            description="Offer the openrouter:web_fetch server tool to tool-calling models.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_DATETIME: bool | None = Field(
            default=None,
            description="Offer the openrouter:datetime server tool to tool-calling models.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_ADVISOR: bool | None = Field(
            default=None,
            description=(
                "Offer the openrouter:advisor server tool (consult a stronger model "
                "mid-answer) to tool-calling models."
            ),
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_SUBAGENT: bool | None = Field(
            default=None,
            description=(
                "Offer the openrouter:subagent server tool (hand a task to a cheaper worker "
                "model) to tool-calling models."
            ),
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_SEARCH_MODELS: bool | None = Field(
            default=None,
            description=(
                "Offer OpenRouter's experimental model-search server tool to tool-calling models."
            ),
            json_schema_extra=_ON_OFF_SELECT,
        )
        USE_MODEL_MAX_OUTPUT_TOKENS: bool | None = Field(
            default=None,
            description="Send the model's max output tokens when the chat sets no limit.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        MAX_OUTPUT_TOKENS: int | None = Field(
            default=None, ge=1, description="Upper bound on output tokens for every reply."
        )
        ENABLE_ANTHROPIC_PROMPT_CACHING: bool | None = Field(
            default=None,
            description="Let Claude models cache the prompt prefix (cache_control).",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ANTHROPIC_PROMPT_CACHE_TTL: Literal["5m", "1h"] | None = Field(
            default=None,
            description="How long Claude keeps the prompt cache.",
            json_schema_extra=_select("5m", "1h"),
        )
        ENABLE_ANTHROPIC_INTERLEAVED_THINKING: bool | None = Field(
            default=None,
            description="Claude thinks between tool calls (interleaved-thinking beta header).",
            json_schema_extra=_ON_OFF_SELECT,
        )
        FALLBACK_MODELS: str | None = Field(
            default=None,
            description="Comma-separated OpenRouter slugs tried in order if the model fails.",
        )
        ZDR_ENFORCE: bool | None = Field(
            default=None,
            description="Route every request to zero-data-retention endpoints only.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        DEFAULT_LLM_ENDPOINT: Literal["responses", "chat_completions"] | None = Field(
            default=None,
            description="OpenRouter endpoint for models the lists below do not name.",
            json_schema_extra=_select("responses", "chat_completions"),
        )
        FORCE_CHAT_COMPLETIONS_MODELS: str | None = Field(
            default=None,
            description="Comma-separated slugs or globs always sent to /chat/completions.",
        )
        FORCE_RESPONSES_MODELS: str | None = Field(
            default=None,
            description="Comma-separated slugs or globs always sent to /responses (no "
            "fallback for them).",
        )
        AUTO_FALLBACK_CHAT_COMPLETIONS: bool | None = Field(
            default=None,
            description="When /responses says a model or feature is unsupported, before any "
            "output, retry on /chat/completions.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        SEND_CACHE_SESSION_ID: bool | None = Field(
            default=None,
            description="Send a stable per-chat session_id (HMAC of the chat id) so a chat "
            "keeps its provider and prompt cache.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        USAGE_STATUS_STYLE: UsageStyle | None = Field(
            default=None,
            description="Usage line with text labels or icons. Empty: sidecar default (text).",
            json_schema_extra=_USAGE_STYLE_SELECT,
        )

        _unset_blanks = field_validator(*_REQUEST_SCOPED_VALVES, mode="before")(_blank_is_unset)
        _encrypt_token = field_validator("SIDECAR_TOKEN", mode="after")(encrypt_secret)
        _upload_template = field_validator("DIRECT_UPLOAD_FAILURE_TEMPLATE", mode="after")(
            check_direct_upload_failure_template
        )

    class UserValves(BaseModel):
        """Your own settings; empty ones use the administrator's."""

        OPENROUTER_API_KEY: str = Field(
            default="",
            description=(
                "Your own OpenRouter API key (sk-or-…); requests are billed to it. Stored "
                "encrypted."
            ),
            json_schema_extra=_PASSWORD_INPUT,
        )
        SHOW_FINAL_USAGE_STATUS: bool | None = Field(
            default=None,
            description="Display tokens, time, and cost at the end of each reply.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        USAGE_STATUS_STYLE: UsageStyle | None = Field(
            default=None,
            description="Usage line with text labels or icons.",
            json_schema_extra=_USAGE_STYLE_SELECT,
        )
        ENABLE_REASONING: bool | None = Field(
            default=None,
            description="While the AI works, show its step-by-step reasoning when supported.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        THINKING_OUTPUT_MODE: ThinkingMode | None = Field(
            default=None,
            description="Show thinking in the reasoning box, as status lines, or both.",
            json_schema_extra=_THINKING_SELECT,
        )
        REASONING_EFFORT: Effort | None = Field(
            default=None,
            description="How much the AI thinks before answering (higher is slower).",
            json_schema_extra=_EFFORT_SELECT,
        )
        REASONING_SUMMARY_MODE: SummaryMode | None = Field(
            default=None,
            description="How detailed the reasoning summary is.",
            json_schema_extra=_SUMMARY_SELECT,
        )
        TOOL_EXECUTION_MODE: ToolMode | None = Field(
            default=None,
            description="Where tools run: pipeline (the sidecar's loop) or passthrough.",
            json_schema_extra=_TOOL_MODE_SELECT,
        )
        SHOW_PHASE_TIMING: bool | None = Field(
            default=None,
            description="Add where the time went (queue, provider, first token) to the usage "
            "line; for diagnosing slow answers.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_WEB_SEARCH: bool | None = Field(
            default=None,
            description="Use OpenRouter web search (false turns it off for you).",
            json_schema_extra=_ON_OFF_SELECT,
        )
        REQUEST_ZDR: bool | None = Field(
            default=None,
            description="Request Zero Data Retention routing.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        ENABLE_ANTHROPIC_INTERLEAVED_THINKING: bool | None = Field(
            default=None,
            description=(
                "Claude models: think between tool calls (the interleaved-thinking beta); "
                "unset follows the administrator's choice."
            ),
            json_schema_extra=_ON_OFF_SELECT,
        )
        PROVIDER_ROUTING: str | None = Field(
            default=None,
            description=(
                'Your OpenRouter provider preferences as JSON, e.g. {"order": ["anthropic"], '
                '"sort": "price"}; only for models where the administrator allows it.'
            ),
        )
        SHOW_TOOL_CARDS: bool | None = Field(
            default=None,
            description="Show each tool the AI used as a card with its arguments and result.",
            json_schema_extra=_ON_OFF_SELECT,
        )
        PERSIST_REASONING_TOKENS: PersistReasoning | None = Field(
            default=None,
            description="Keep the AI's reasoning for the next reply only, the whole chat, or "
            "not at all (you can keep less than the administrator allows, not more).",
            json_schema_extra=_PERSIST_REASONING_SELECT,
        )
        PERSIST_TOOL_RESULTS: bool | None = Field(
            default=None,
            description="Let later replies reuse tool results instead of running tools again "
            "(false: tool results are not kept).",
            json_schema_extra=_ON_OFF_SELECT,
        )

        _unset_blanks = field_validator(
            "SHOW_FINAL_USAGE_STATUS",
            "USAGE_STATUS_STYLE",
            "ENABLE_REASONING",
            "THINKING_OUTPUT_MODE",
            "REASONING_EFFORT",
            "REASONING_SUMMARY_MODE",
            "TOOL_EXECUTION_MODE",
            "ENABLE_WEB_SEARCH",
            "REQUEST_ZDR",
            "PROVIDER_ROUTING",
            "SHOW_TOOL_CARDS",
            "PERSIST_REASONING_TOKENS",
            "PERSIST_TOOL_RESULTS",
            mode="before",
        )(_blank_is_unset)
        _encrypt_key = field_validator("OPENROUTER_API_KEY", mode="after")(encrypt_secret)

    def __init__(self) -> None:
        self.valves = self.Valves()
        self._models: list[dict[str, Any]] | None = None
        self._models_key = ""
        self._models_fetched_at = 0.0
        self._synced_fingerprint = ""
        self._sync_lock = asyncio.Lock()
        self._sync_refused = ""

    # -- catalog ---------------------------------------------------------------------------------

    async def pipes(self) -> list[dict[str, str]]:
        """The sidecar's models as ``[{"id": <sub id>, "name": ...}]``, cached.

        When no sidecar answers: the last list if there is one, else one entry whose name
        says why.
        """
        key = self.valves.SIDECAR_ADDRESSES
        now = time.monotonic()
        if (
            self._models is not None
            and self._models_key == key
            and now - self._models_fetched_at < self.valves.MODEL_CACHE_TTL_S
        ):
            return _listed(self._models)
        try:
            addresses = parse_addresses(key)
        except ValueError as exc:
            return [
                {"id": UNREACHABLE_MODEL_ID, "name": f"pipe-service: bad SIDECAR_ADDRESSES: {exc}"}
            ]
        failures: list[tuple[str, str]] = []
        for address in addresses:
            try:
                rows = await self._fetch_models(address)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                failures.append((address.text, _reason(exc)))
                continue
            self._models = rows
            self._models_key = key
            self._models_fetched_at = time.monotonic()
            await self._sync_model_entries(rows)
            return _listed(rows)
        if self._models is not None and self._models_key == key:
            return _listed(self._models)
        where = ", ".join(address for address, _ in failures)
        why = "; ".join(reason for _, reason in failures)
        return [
            {
                "id": UNREACHABLE_MODEL_ID,
                "name": f"pipe-service sidecar unreachable ({where}): {why}",
            }
        ]

    async def _sync_model_entries(self, rows: list[dict[str, Any]]) -> None:
        """Write Open WebUI's model entries when the catalog or the policy changed.

        Never fails the model list: a problem is logged (once per distinct message).
        """
        if not self.valves.SYNC_MODEL_ENTRIES:
            return
        function_id = owui_function_id(__name__)
        if function_id is None:
            return  # not loaded by Open WebUI (tests, tools): nothing to sync with
        policy_valves = self.valves.model_dump(
            include={
                "MODEL_ACCESS",
                "MODEL_ACCESS_GROUPS",
                "UPDATE_MODEL_CAPABILITIES",
                "UPDATE_MODEL_DESCRIPTIONS",
                "UPDATE_MODEL_IMAGES",
                "MODEL_SYNC_OVERWRITE_EDITS",
                "MODEL_RESYNC",
            }
        )
        fingerprint = json.dumps([function_id, rows, policy_valves], sort_keys=True, default=str)
        async with self._sync_lock:
            if fingerprint == self._synced_fingerprint:
                return
            try:
                entries = OwuiModelEntries()
                groups = [g.strip() for g in self.valves.MODEL_ACCESS_GROUPS.split(",")]
                policy = SyncPolicy(
                    access=self.valves.MODEL_ACCESS,
                    group_ids=await entries.group_ids([g for g in groups if g]),
                    update_capabilities=self.valves.UPDATE_MODEL_CAPABILITIES,
                    update_descriptions=self.valves.UPDATE_MODEL_DESCRIPTIONS,
                    update_images=self.valves.UPDATE_MODEL_IMAGES,
                    overwrite_edits=self.valves.MODEL_SYNC_OVERWRITE_EDITS,
                )
                existing = await entries.entries()
                before, resync = await entries.load_state(function_id)
                state = note_deletions(function_id, before, existing, resync=resync)
                changes = plan_model_entries(
                    function_id, rows, existing, policy, deleted=state.deleted
                )
                await entries.apply(changes)
                state = state_after(state, changes)
                if state != before or resync:
                    await entries.save_state(function_id, state)
            except OwuiVersionError as exc:
                if str(exc) != self._sync_refused:
                    log.warning("model entries not synced: %s", exc)
                    self._sync_refused = str(exc)
                self._synced_fingerprint = fingerprint
                return
            except Exception as exc:  # Open WebUI's DB refused: retry at the next fetch
                log.warning("model entries not synced: %s", _error_text(exc))
                return
            if changes:
                log.info("synced %d Open WebUI model entries", len(changes))
            self._synced_fingerprint = fingerprint

    async def _fetch_models(self, address: SidecarAddress) -> list[dict[str, Any]]:
        # The Unix socket is guarded by its file mode: no token is read (or decrypted) for it.
        token = (
            reveal_secret(self.valves.SIDECAR_TOKEN, "SIDECAR_TOKEN")
            if address.socket_path is None
            else ""
        )
        async with (
            _session(address, self.valves.CONNECT_TIMEOUT_S) as session,
            session.get(address.base_url + MODELS_PATH, headers=_auth_headers(token)) as response,
        ):
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}: {await _error_message(response)}")
            document = await response.json(content_type=None)
        models: list[dict[str, str]] = []
        for row in document.get("data", []) if isinstance(document, dict) else []:
            slug = row.get("id") if isinstance(row, dict) else None
            if not isinstance(slug, str) or not slug:
                continue
            try:
                sub_id = slug_to_owui_id(slug)
            except (ValueError, UnicodeEncodeError):
                continue
            model: dict[str, Any] = {"id": sub_id, "name": str(row.get("name") or slug)}
            if isinstance(row.get("open_webui"), dict):
                model["open_webui"] = row["open_webui"]
            models.append(model)
        return models

    # -- chat --------------------------------------------------------------------------------

    async def pipe(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any] | None = None,
        __request__: Any = None,
        __event_emitter__: EventEmitter | None = None,
        __event_call__: EventCaller | None = None,
        __metadata__: dict[str, Any] | None = None,
        __tools__: dict[str, Any] | None = None,
        __files__: list[dict[str, Any]] | None = None,
        __task__: str | None = None,
        __task_body__: dict[str, Any] | None = None,
        __chat_id__: str | None = None,
        __message_id__: str | None = None,
    ) -> str | AsyncGenerator[Output, None]:
        """Forward one chat to the sidecar. Streams when ``body["stream"]`` (and not a task)."""
        user = __user__ or {}
        metadata = __metadata__ or {}
        user_valves = _user_valves(user.get("valves"))
        stream = bool(body.get("stream")) and not __task__
        try:
            stored_key = user_valves.pop("OPENROUTER_API_KEY", None)
            api_key = reveal_secret(stored_key, "OPENROUTER_API_KEY")
        except SecretUnreadableError as exc:
            unreadable = f"### ⚠️ Your OpenRouter key cannot be read\n\n{exc} (your valves)."
            return _single(unreadable) if stream else unreadable
        kept = builtin_tools_kept(
            self.valves.BUILTIN_TOOLS, metadata.get("features"), bool(__files__)
        )
        tools, body = without_builtin_tools(__tools__ or {}, body, kept)
        owui = OwuiContext(
            emit=__event_emitter__,
            call=__event_call__,
            tools=tools,
            user=user,
            request=__request__,
            chat_id=_text_or_none(__chat_id__) or _text_or_none(metadata.get("chat_id")),
            message_id=_text_or_none(__message_id__) or _text_or_none(metadata.get("message_id")),
            session_id=_text_or_none(metadata.get("session_id")),
            show_usage=not __task__
            and _first_set(
                user_valves.get("SHOW_FINAL_USAGE_STATUS"),
                self.valves.SHOW_FINAL_USAGE_STATUS,
                default=True,
            ),
            fallback_email=self.valves.FALLBACK_STORAGE_EMAIL,
        )
        uploads = body.pop(DIRECT_UPLOADS_KEY, None)
        if __task__:
            uploads = None  # a title or tags task does not need the attachments' bytes
        try:
            attachments = await self._direct_uploads(owui, uploads)
        except DirectUploadError as exc:
            failure = direct_upload_failure_markdown(
                str(exc), self.valves.DIRECT_UPLOAD_FAILURE_TEMPLATE
            )
            return _single(failure) if stream else failure
        request = {
            "type": "request",
            "model": str(body.get("model", "")),
            "body": body,
            "stream": stream,
            "user": {
                "id": str(user.get("id", "")),
                "email": _text_or_none(user.get("email")),
                "name": _text_or_none(user.get("name")),
                "role": _text_or_none(user.get("role")),
            },
            "user_valves": user_valves,
            "valves": self._request_valves(),
            "metadata": {
                "chat_id": owui.chat_id,
                "message_id": owui.message_id,
                "session_id": owui.session_id,
                "task": _text_or_none(__task__),
            },
            "tools": _tool_specs(owui.tools),
            "files": _file_summaries(__files__ or []) + attachments,
            "api_key": api_key or None,
        }
        if stream:
            return self._stream(request, owui)
        return await self._complete(request, owui, task=bool(__task__))

    async def _direct_uploads(self, owui: OwuiContext, uploads: Any) -> list[dict[str, Any]]:
        """Read the files the Direct Uploads filter passed on (raises DirectUploadError)."""
        if not uploads:
            return []
        if not isinstance(uploads, list):
            raise DirectUploadError("the Direct Uploads filter sent an unreadable file list")
        max_bytes = self.valves.DIRECT_UPLOAD_MAX_MB * 1_048_576
        return [
            await read_direct_upload(owui, entry, max_bytes=max_bytes)
            for entry in uploads[:MAX_FILES]
            if isinstance(entry, Mapping)
        ]

    def _request_valves(self) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        for name in _REQUEST_SCOPED_VALVES:
            value = getattr(self.valves, name)
            if value is not None:
                chosen[name] = value
        return chosen

    async def _open(self) -> Conversation:
        try:
            addresses = parse_addresses(self.valves.SIDECAR_ADDRESSES)
        except ValueError as exc:
            raise SidecarUnavailableError([(self.valves.SIDECAR_ADDRESSES, str(exc))]) from None
        try:
            token = reveal_secret(self.valves.SIDECAR_TOKEN, "SIDECAR_TOKEN")
        except SecretUnreadableError as exc:
            raise SidecarUnavailableError([(self.valves.SIDECAR_ADDRESSES, str(exc))]) from None
        return await open_conversation(
            addresses,
            token=token,
            connect_timeout_s=self.valves.CONNECT_TIMEOUT_S,
        )

    async def _stream(
        self, request: dict[str, Any], owui: OwuiContext
    ) -> AsyncGenerator[Output, None]:
        """The streaming answer: text strings, reasoning chunks, tool-call chunks, messages."""
        try:
            conversation = await self._open()
        except SidecarUnavailableError as exc:
            yield unreachable_markdown(exc.failures, admin=owui.is_admin)
            return
        try:
            async for item in self._converse(conversation, request, owui, collect=None):
                yield item
        finally:
            # Also runs when Open WebUI cancels the stream (stop button): closing the socket
            # cancels the request in the sidecar.
            await conversation.aclose()

    async def _complete(self, request: dict[str, Any], owui: OwuiContext, *, task: bool) -> str:
        """The whole answer as one string (non-stream requests and Open WebUI tasks)."""
        try:
            conversation = await self._open()
        except SidecarUnavailableError as exc:
            return unreachable_markdown(exc.failures, admin=owui.is_admin)
        outcome = _Outcome()
        try:
            text = [
                item
                async for item in self._converse(conversation, request, owui, outcome)
                if isinstance(item, str)
            ]
        finally:
            await conversation.aclose()
        done = outcome.done
        if done is None:
            return "".join(text)  # an error or busy message, after any partial content
        content = done.get("content")
        answer = content if isinstance(content, str) else "".join(text)
        reasoning = done.get("reasoning") or "".join(outcome.reasoning)
        if reasoning and not task:
            return reasoning_details(str(reasoning)) + answer
        return answer

    async def _converse(
        self,
        conversation: Conversation,
        request: dict[str, Any],
        owui: OwuiContext,
        collect: _Outcome | None,
    ) -> AsyncGenerator[Output, None]:
        """Send the request and turn the sidecar's frames into Open WebUI output items."""
        text = json.dumps(request, default=str)
        if len(text) > conversation.max_client_frame_bytes:  # ASCII JSON: chars == bytes
            size_mb = len(text) / 1_048_576
            limit_mb = conversation.max_client_frame_bytes / 1_048_576
            yield (
                f"### ⚠️ Request too large\n\n"
                f"{size_mb:.1f} MB exceeds the sidecar's limit of {limit_mb:.1f} MB."
            )
            return
        idle_s = self.valves.IDLE_TIMEOUT_S
        try:
            await conversation.send_text(text)
            pending: dict[str, Any] | None = None
            while True:
                frame = pending if pending is not None else await conversation.receive(idle_s)
                pending = None
                if frame is None:
                    raise SidecarGoneError("the sidecar closed the connection mid-answer")
                kind = frame.get("type")
                if kind == "delta":
                    joined, pending = await _arrived_deltas(conversation, frame, idle_s)
                    yield joined
                    if pending is _CLOSED:
                        raise SidecarGoneError("the sidecar closed the connection mid-answer")
                elif kind == "reasoning":
                    if collect is None:
                        yield _reasoning_chunk(frame.get("text", ""))
                    else:
                        collect.reasoning.append(frame.get("text", ""))
                elif kind == "event":
                    if owui.emit is not None:
                        await owui.emit(frame.get("event") or {})
                elif kind == "tool_call":
                    conversation.reply_later(run_tool(owui, frame))
                elif kind == "event_call":
                    conversation.reply_later(answer_event_call(owui, frame))
                elif kind == "store_file":
                    conversation.reply_later(store_file(owui, frame))
                elif kind == "done":
                    if collect is not None:
                        collect.done = frame
                    for item in await _finish(frame, owui, streaming=collect is None):
                        yield item
                    break
                elif kind == "error":
                    if collect is not None and frame.get("content"):
                        yield str(frame["content"])
                    yield _error_markdown(frame)
                    break
                elif kind == "busy":
                    yield busy_markdown(frame)
                    break
                else:
                    log.debug("ignoring unknown frame type %r", str(kind)[:40])
        except SidecarGoneError as exc:
            if not owui.is_admin:
                log.warning("sidecar %s stopped answering: %s", conversation.address, exc)
                yield "\n\n⚠️ **The AI service stopped answering.** Try again."
                return
            yield (
                f"\n\n⚠️ **The pipe-service sidecar ({conversation.address}) stopped answering:** "
                f"{exc}. Try again."
            )
            return
        except (aiohttp.ClientError, ConnectionError) as exc:
            if not owui.is_admin:
                log.warning("lost the sidecar %s: %s", conversation.address, _reason(exc))
                yield "\n\n⚠️ **Lost the connection to the AI service.** Try again."
                return
            yield (
                f"\n\n⚠️ **Lost the connection to the pipe-service sidecar "
                f"({conversation.address}):** {_reason(exc)}. Try again."
            )
            return
        await conversation.wait_closed()


async def _single(text: str) -> AsyncGenerator[Output, None]:
    yield text


_CLOSED: dict[str, Any] = {"type": "closed"}
"""What :func:`_arrived_deltas` hands back when the sidecar closed right after the deltas."""


async def _arrived_deltas(
    conversation: Conversation, frame: dict[str, Any], idle_s: float
) -> tuple[Any, dict[str, Any] | None]:
    """The text of ``frame`` joined with the ``delta`` frames that have already arrived after
    it, and the first other frame taken meanwhile (to be handled next; :data:`_CLOSED` when the
    sidecar closed).

    Open WebUI's cost is per chunk a pipe yields (a chunk object, JSON, an SSE write, a socket
    event), so the frames that queued up while Open WebUI was busy go to it as one chunk. Only
    frames already here are joined: nothing waits, and while Open WebUI keeps up each frame is
    still its own chunk.
    """
    text = frame.get("text", "")
    if not isinstance(text, str):
        return text, None
    parts = [text]
    pending: dict[str, Any] | None = None
    while conversation.frame_arrived():
        following = await conversation.receive(idle_s)
        if following is None:
            pending = _CLOSED
            break
        if following.get("type") != "delta" or not isinstance(following.get("text"), str):
            pending = following
            break
        parts.append(following["text"])
    return "".join(parts) if len(parts) > 1 else text, pending


@dataclass
class _Outcome:
    """What a whole-answer request collects besides text."""

    done: dict[str, Any] | None = None
    reasoning: list[str] = field(default_factory=list)


async def _finish(frame: Mapping[str, Any], owui: OwuiContext, *, streaming: bool) -> list[Output]:
    """Handle ``done``: the usage status line, and passthrough tool calls (stream only)."""
    usage_line = frame.get("usage_line")
    if usage_line and owui.show_usage and owui.emit is not None:
        await owui.emit({"type": "status", "data": {"description": usage_line, "done": True}})
    calls = frame.get("tool_calls") or []
    if streaming and calls:
        return list(_tool_call_chunks(calls))
    return []


def _listed(models: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What ``pipes()`` returns: ids and names only (Open WebUI's manifold entries)."""
    return [{"id": model["id"], "name": model["name"]} for model in models]


def _error_markdown(frame: Mapping[str, Any]) -> str:
    message = str(frame.get("message") or "The pipe-service sidecar reported an error.")
    if frame.get("code") == "interrupted" and not message.startswith("\n"):
        return "\n\n" + message  # after the partial answer already shown
    return message


async def _error_message(response: aiohttp.ClientResponse) -> str:
    try:
        document = await response.json(content_type=None)
        return str(document["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError, aiohttp.ClientError):
        return response.reason or "error"


def _first_set(*values: bool | None, default: bool) -> bool:
    for value in values:
        if value is not None:
            return bool(value)
    return default


def _user_valves(valves: Any) -> dict[str, Any]:
    """The user's valves that are set (a UserValves instance or a dict), as a plain dict."""
    if isinstance(valves, BaseModel):
        raw = valves.model_dump()
    elif isinstance(valves, Mapping):
        raw = dict(valves)
    else:
        return {}
    return {
        name: value
        for name, value in raw.items()
        if value is not None and _blank_is_unset(value) is not None
    }


def builtin_tools_kept(choice: str, features: Any, has_files: bool) -> frozenset[str] | None:
    """The built-in tool names ``BUILTIN_TOOLS`` lets through (``None``: all of them)."""
    mode = choice.strip().lower()
    if mode == "all":
        return None
    if mode in ("none", ""):
        return frozenset()
    if mode == "chat":
        enabled = features if isinstance(features, Mapping) else {}
        names = {
            name
            for feature, tools in BUILTIN_TOOLS_BY_FEATURE.items()
            if enabled.get(feature)
            for name in tools
        }
        return frozenset(names | set(CHAT_FILE_TOOLS if has_files else ()))
    return frozenset(part.strip() for part in choice.split(",") if part.strip())


def _is_builtin(tool: Any) -> bool:
    return isinstance(tool, Mapping) and (
        tool.get("type") == "builtin" or str(tool.get("tool_id", "")).startswith("builtin:")
    )


def without_builtin_tools(
    tools: Mapping[str, Any], body: dict[str, Any], kept: frozenset[str] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``__tools__`` and the body without the built-in tools the admin does not let through.

    Open WebUI's native mode lists every tool in ``body["tools"]`` too; both lose the same ones.
    """
    if kept is None:
        return dict(tools), body
    dropped = {name for name, tool in tools.items() if _is_builtin(tool) and name not in kept}
    if not dropped:
        return dict(tools), body
    remaining = {name: tool for name, tool in tools.items() if name not in dropped}
    listed = body.get("tools")
    if isinstance(listed, list):
        body = dict(body)
        body["tools"] = [
            tool
            for tool in listed
            if not (
                isinstance(tool, Mapping)
                and isinstance(tool.get("function"), Mapping)
                and tool["function"].get("name") in dropped
            )
        ]
        if not body["tools"]:
            del body["tools"]
    return remaining, body


def _tool_specs(tools: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Open WebUI's ``__tools__`` as protocol tool specs (tools the shim can run)."""
    specs: list[dict[str, Any]] = []
    for name, tool in tools.items():
        if not isinstance(tool, Mapping) or not isinstance(tool.get("spec"), Mapping):
            continue
        if tool.get("direct"):
            kind = "direct"
        elif tool.get("callable") is not None:
            kind = "callable"
        else:
            continue
        specs.append({"name": str(name)[:128], "spec": dict(tool["spec"]), "kind": kind})
        if len(specs) == MAX_TOOLS:
            break
    return specs


def _file_summaries(files: list[Any]) -> list[dict[str, Any]]:
    """The fields of ``__files__`` the sidecar may use (not Open WebUI's whole file record)."""
    summaries: list[dict[str, Any]] = []
    for item in files[:MAX_FILES]:
        if not isinstance(item, Mapping):
            continue
        summary = {key: item[key] for key in _FILE_FIELDS if item.get(key) is not None}
        if "content_type" not in summary:
            record = item.get("file")
            meta = record.get("meta") if isinstance(record, Mapping) else None
            if isinstance(meta, Mapping) and isinstance(meta.get("content_type"), str):
                summary["content_type"] = meta["content_type"]
        summaries.append(summary)
    return summaries
