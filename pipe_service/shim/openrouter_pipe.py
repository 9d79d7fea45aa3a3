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
# Only what Open WebUI 0.12.4 ships is used: aiohttp, pydantic and the standard library.
# ``open_webui`` is imported only inside the file-storage helper, so the file also imports
# outside Open WebUI. The shim does no per-chunk work beyond forwarding (no parsing, no
# regexes, no emitter call per delta): Open WebUI's own per-chunk cost dominates already.

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import inspect
import io
import json
import logging
import math
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


def direct_upload_failure_markdown(problem: str) -> str:
    return (
        "### ⚠️ Attachment not sent\n\n"
        f"{problem}. The message was not sent, so the model does not answer without it; "
        "remove the attachment or ask an admin to raise the limit."
    )


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
        self._send_lock = asyncio.Lock()
        self._side_tasks: set[asyncio.Task[None]] = set()

    async def send(self, frame: Mapping[str, Any]) -> None:
        await self.send_text(json.dumps(frame, default=str))

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            await self._ws.send_str(text)

    async def receive(self, idle_s: float) -> dict[str, Any] | None:
        """The next frame, or ``None`` when the sidecar closed; bounded by ``idle_s``."""
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


def unreachable_markdown(failures: list[tuple[str, str]]) -> str:
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
)

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
            description="Bearer token for TCP addresses (the sidecar's api_token).",
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
        DIRECT_UPLOAD_MAX_MB: int = Field(
            default=20,
            ge=1,
            le=500,
            description="Largest attachment read from Open WebUI storage and sent natively "
            "(files the Direct Uploads filter passed on).",
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
        USAGE_STATUS_STYLE: UsageStyle | None = Field(
            default=None,
            description="Usage line with text labels or icons. Empty: sidecar default (text).",
            json_schema_extra=_USAGE_STYLE_SELECT,
        )

        _unset_blanks = field_validator(*_REQUEST_SCOPED_VALVES, mode="before")(_blank_is_unset)

    class UserValves(BaseModel):
        """Your own settings; empty ones use the administrator's."""

        OPENROUTER_API_KEY: str = Field(
            default="",
            description="Your own OpenRouter API key (sk-or-…); requests are billed to it.",
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
            "PERSIST_REASONING_TOKENS",
            "PERSIST_TOOL_RESULTS",
            mode="before",
        )(_blank_is_unset)

    def __init__(self) -> None:
        self.valves = self.Valves()
        self._models: list[dict[str, str]] | None = None
        self._models_key = ""
        self._models_fetched_at = 0.0

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
            return list(self._models)
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
            return list(rows)
        if self._models is not None and self._models_key == key:
            return list(self._models)
        where = ", ".join(address for address, _ in failures)
        why = "; ".join(reason for _, reason in failures)
        return [
            {
                "id": UNREACHABLE_MODEL_ID,
                "name": f"pipe-service sidecar unreachable ({where}): {why}",
            }
        ]

    async def _fetch_models(self, address: SidecarAddress) -> list[dict[str, str]]:
        async with (
            _session(address, self.valves.CONNECT_TIMEOUT_S) as session,
            session.get(
                address.base_url + MODELS_PATH, headers=_auth_headers(self.valves.SIDECAR_TOKEN)
            ) as response,
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
            models.append({"id": sub_id, "name": str(row.get("name") or slug)})
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
        api_key = user_valves.pop("OPENROUTER_API_KEY", None)
        stream = bool(body.get("stream")) and not __task__
        owui = OwuiContext(
            emit=__event_emitter__,
            call=__event_call__,
            tools=__tools__ or {},
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
            failure = direct_upload_failure_markdown(str(exc))
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
            "api_key": api_key,
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
        return await open_conversation(
            addresses,
            token=self.valves.SIDECAR_TOKEN,
            connect_timeout_s=self.valves.CONNECT_TIMEOUT_S,
        )

    async def _stream(
        self, request: dict[str, Any], owui: OwuiContext
    ) -> AsyncGenerator[Output, None]:
        """The streaming answer: text strings, reasoning chunks, tool-call chunks, messages."""
        try:
            conversation = await self._open()
        except SidecarUnavailableError as exc:
            yield unreachable_markdown(exc.failures)
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
            return unreachable_markdown(exc.failures)
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
            while True:
                frame = await conversation.receive(idle_s)
                if frame is None:
                    raise SidecarGoneError("the sidecar closed the connection mid-answer")
                kind = frame.get("type")
                if kind == "delta":
                    yield frame.get("text", "")
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
            yield (
                f"\n\n⚠️ **The pipe-service sidecar ({conversation.address}) stopped answering:** "
                f"{exc}. Try again."
            )
            return
        except (aiohttp.ClientError, ConnectionError) as exc:
            yield (
                f"\n\n⚠️ **Lost the connection to the pipe-service sidecar "
                f"({conversation.address}):** {_reason(exc)}. Try again."
            )
            return
        await conversation.wait_closed()


async def _single(text: str) -> AsyncGenerator[Output, None]:
    yield text


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
