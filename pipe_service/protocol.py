"""The shim protocol, version 1: the frames exchanged over ``/v1/pipe`` (one WebSocket per chat).

Frames are JSON text messages with a ``type``. The sidecar validates every frame it receives
with these models; the shim (which may only use what Open WebUI ships) builds and reads plain
dicts of the same shape. ``docs/protocol.md`` is the narrative version of this module, with the
rule for evolving it: new optional fields are compatible; anything else is a new version.

Session shape::

    shim                                   sidecar
    hello {protocols:[1]}          ──▶
                                   ◀──     welcome {protocol:1, limits}
    request {...}                  ──▶
                                   ◀──     delta / reasoning / event ...
                                   ◀──     tool_call {call_id}      (shim runs the tool)
    tool_result {call_id}          ──▶
                                   ◀──     event_call {call_id}     (shim asks Open WebUI's UI)
    event_call_result {call_id}    ──▶
                                   ◀──     store_file {call_id}     (shim saves into OWUI storage)
    file_stored {call_id}          ──▶
                                   ◀──     done {...}  |  error {...}  |  busy {...}
    (the sidecar closes the socket; closing it from either side cancels the request)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pipe_service.strict_json import UnacceptableJsonError, loads_strict

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})

MAX_CLIENT_FRAME_BYTES = 32 * 1024 * 1024
"""A request carries the whole chat body, images included as data URLs; 32 MiB bounds it."""
MAX_SERVER_FRAME_BYTES = 32 * 1024 * 1024
OVERSIZE_FRAME_MARGIN_BYTES = 1024 * 1024
"""The WebSocket server takes frames up to ``MAX_CLIENT_FRAME_BYTES`` plus this margin, so a frame
just over the cap is answered ``frame_too_large``; anything larger is cut by the server itself
with close code 1009 (message too big) before it is buffered whole."""
MAX_ID_CHARS = 256


class ErrorCode:
    """Stable machine-readable codes of ``error`` frames."""

    BAD_FRAME = "bad_frame"  # not JSON, not an object, unknown type, or invalid fields
    FRAME_TOO_LARGE = "frame_too_large"
    OUT_OF_ORDER = "out_of_order"  # e.g. a request before hello, a second request
    UNSUPPORTED_VERSION = "unsupported_version"
    UNAUTHORIZED = "unauthorized"
    INVALID_REQUEST = "invalid_request"  # the chat body cannot be turned into a request
    UNKNOWN_MODEL = "unknown_model"
    CATALOG_UNAVAILABLE = "catalog_unavailable"
    UPSTREAM = "upstream_error"  # OpenRouter answered with an error
    INTERRUPTED = "interrupted"  # the answer failed after output had started
    SHUTTING_DOWN = "shutting_down"
    SLOW_DOWN = "slow_down"  # this user's recent requests kept failing; paused for a while
    CANCELLED = "cancelled"  # the shim sent ``cancel``; the request was stopped
    TIMEOUT = "timeout"  # no hello/request within the handshake deadline
    STALLED = "stalled"  # the shim stopped reading; the request was stopped
    INTERNAL = "internal"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- shim → sidecar ------------------------------------------------------------------------------


class Hello(_Frame):
    type: Literal["hello"]
    protocols: list[int] = Field(min_length=1, max_length=16)
    shim_version: str = Field("", max_length=64)
    owui_version: str = Field("", max_length=64)


class RequestUser(_Frame):
    id: str = Field(max_length=MAX_ID_CHARS)
    email: str | None = Field(None, max_length=320)
    name: str | None = Field(None, max_length=256)
    role: str | None = Field(None, max_length=32)


class RequestMetadata(_Frame):
    chat_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    message_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    session_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    task: str | None = Field(None, max_length=64)


class ToolSpec(_Frame):
    """An Open WebUI tool the shim can run: its name and OpenAI-style function spec."""

    name: str = Field(min_length=1, max_length=128)
    spec: dict[str, Any]
    kind: Literal["callable", "direct"] = "callable"


class Request(_Frame):
    type: Literal["request"]
    model: str = Field(min_length=1, max_length=512, description="Open WebUI model id")
    body: dict[str, Any]
    stream: bool = True
    user: RequestUser
    user_valves: dict[str, Any] = Field(default_factory=dict)
    valves: dict[str, Any] = Field(default_factory=dict)
    metadata: RequestMetadata = Field(default_factory=RequestMetadata)
    tools: list[ToolSpec] = Field(default_factory=list, max_length=512)
    files: list[dict[str, Any]] = Field(default_factory=list, max_length=256)
    api_key: str | None = Field(None, max_length=512, description="the user's own OpenRouter key")


class ToolResult(_Frame):
    type: Literal["tool_result"]
    call_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    output: str = ""
    error: str | None = Field(None, max_length=4096)


class EventCallResult(_Frame):
    type: Literal["event_call_result"]
    call_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    result: Any = None
    error: str | None = Field(None, max_length=4096)


class StoredFile(_Frame):
    id: str = Field(max_length=MAX_ID_CHARS)
    url: str = Field(max_length=2048)
    name: str = Field(max_length=512)
    content_type: str = Field("application/octet-stream", max_length=256)


class FileStored(_Frame):
    type: Literal["file_stored"]
    call_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    file: StoredFile | None = None
    error: str | None = Field(None, max_length=4096)


class Cancel(_Frame):
    type: Literal["cancel"]
    reason: str = Field("", max_length=256)


ClientFrame = Annotated[
    Hello | Request | ToolResult | EventCallResult | FileStored | Cancel,
    Field(discriminator="type"),
]
_CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


# -- sidecar → shim ------------------------------------------------------------------------------


class Limits(_Frame):
    max_client_frame_bytes: int = MAX_CLIENT_FRAME_BYTES
    max_server_frame_bytes: int = MAX_SERVER_FRAME_BYTES
    handshake_timeout_s: float | None = None
    """The shim must send ``hello`` and then ``request`` within this long (each)."""
    send_stall_s: float | None = None
    """A shim that reads no frame for this long is disconnected and its request cancelled."""


class Welcome(_Frame):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    sidecar_version: str
    limits: Limits = Field(default_factory=Limits)


class Delta(_Frame):
    type: Literal["delta"] = "delta"
    text: str


class Reasoning(_Frame):
    type: Literal["reasoning"] = "reasoning"
    text: str


class Event(_Frame):
    """An Open WebUI emitter event, relayed verbatim by the shim (``status``, ``source``, …)."""

    type: Literal["event"] = "event"
    event: dict[str, Any]


class ToolCall(_Frame):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    arguments: str


class EventCall(_Frame):
    type: Literal["event_call"] = "event_call"
    call_id: str
    event: dict[str, Any]


class StoreFile(_Frame):
    type: Literal["store_file"] = "store_file"
    call_id: str
    name: str
    content_type: str
    data_b64: str


class PassthroughToolCall(_Frame):
    id: str
    name: str
    arguments: str


class Done(_Frame):
    type: Literal["done"] = "done"
    finish_reason: str
    usage: dict[str, Any] | None = None
    usage_line: str | None = None
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[PassthroughToolCall] = Field(default_factory=list)


class Error(_Frame):
    type: Literal["error"] = "error"
    code: str
    message: str
    error_id: str | None = None
    retry_after_s: float | None = None
    content: str | None = None
    """For non-stream and task requests: the partial answer produced before the failure."""


class Busy(_Frame):
    type: Literal["busy"] = "busy"
    message: str
    retry_after_s: float


ServerFrame = (
    Welcome | Delta | Reasoning | Event | ToolCall | EventCall | StoreFile | Done | Error | Busy
)


class ProtocolError(Exception):
    """A frame the sidecar cannot accept; answered with an ``error`` frame and a close."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> Error:
        return Error(code=self.code, message=self.message)


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Validate one frame from the shim; raise :class:`ProtocolError` for anything else.

    The size is checked before any parsing; the JSON is parsed strictly (no NaN/Infinity, no
    lone surrogates, bounded nesting: see :mod:`pipe_service.strict_json`).
    """
    size = frame_size(raw)
    if size > MAX_CLIENT_FRAME_BYTES:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE, f"frame of {size} bytes exceeds {MAX_CLIENT_FRAME_BYTES}"
        )
    try:
        data = loads_strict(raw)
    except UnacceptableJsonError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not acceptable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object")
    frame_type = data.get("type")
    if not isinstance(frame_type, str):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame has no string 'type'")
    try:
        return _CLIENT_FRAME.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"invalid {frame_type[:40]!r} frame: {where}: {first['msg']}"
        ) from None


def frame_size(raw: str | bytes) -> int:
    """Bytes of a frame on the wire (a text frame's UTF-8 length), without copying ASCII text."""
    if isinstance(raw, bytes):
        return len(raw)
    if raw.isascii():
        return len(raw)
    return len(raw.encode("utf-8", "surrogatepass"))


def encode(frame: ServerFrame) -> str:
    """Serialise a sidecar frame as compact JSON text."""
    return frame.model_dump_json(exclude_none=True)


def negotiate(hello: Hello) -> int:
    """The highest version both sides speak; :class:`ProtocolError` when there is none."""
    common = SUPPORTED_VERSIONS.intersection(hello.protocols)
    if not common:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"shim speaks {sorted(hello.protocols)[:8]}, "
            f"sidecar speaks {sorted(SUPPORTED_VERSIONS)}",
        )
    return max(common)
