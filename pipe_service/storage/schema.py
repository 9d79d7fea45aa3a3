"""The tables (SQLAlchemy Core): artifacts, and a small name/value table for the schema version
and the key-derivation salt.

``pipe_artifacts`` holds one row per stored Responses item (a reasoning item, a function call or
a function call output):

=============  ==============================================================================
id             ULID, primary key; the hidden marker in the assistant message names it
owner          who may replay it: ``user:<Open WebUI user id>`` (shim) or the API caller
chat_id        the chat it belongs to ('' when the caller has no chat, the OpenAI API)
message_id     the assistant message it was produced for ('' when unknown)
model          the model slug that produced it
item_type      ``reasoning``, ``function_call`` or ``function_call_output``
position       its place among the items of its turn (replay order)
anchor         for reasoning: the ``call_id`` of the tool call it preceded ('' = the answer)
retention      ``conversation`` (kept until cleanup) or ``next_reply`` (deleted once replayed)
payload        the item, through the codec (JSON → LZ4 when smaller → Fernet when encrypted)
key_id         fingerprint of the key that encrypted ``payload``; NULL when stored plain
created_at     unix seconds when stored
accessed_at    unix seconds of the last replay (retention counts from here)
=============  ==============================================================================
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

metadata = sa.MetaData()

ARTIFACTS_TABLE: Final = "pipe_artifacts"
META_TABLE: Final = "pipe_meta"

meta = sa.Table(
    META_TABLE,
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

artifacts = sa.Table(
    ARTIFACTS_TABLE,
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("chat_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("message_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("model", sa.String(255), nullable=False, server_default=""),
    sa.Column("item_type", sa.String(40), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("anchor", sa.String(255), nullable=False, server_default=""),
    sa.Column("retention", sa.String(16), nullable=False, server_default="conversation"),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("accessed_at", sa.Float, nullable=False),
    sa.Index("ix_pipe_artifacts_owner_chat", "owner", "chat_id"),
    sa.Index("ix_pipe_artifacts_accessed_at", "accessed_at"),
    sa.Index("ix_pipe_artifacts_key_id", "key_id"),
)
