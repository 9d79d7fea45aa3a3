"""Artifact rows for write-behind tests."""

from __future__ import annotations

from pipe_service.storage.artifact_store import NewArtifact
from pipe_service.storage.ids import UlidGenerator

IDS = UlidGenerator()


def row(n: int = 0, *, owner: str = "user:u", chat_id: str = "c") -> NewArtifact:
    return NewArtifact(
        id=IDS.new(),
        owner=owner,
        chat_id=chat_id,
        message_id=f"m{n}",
        model="x/y",
        item={"type": "function_call_output", "call_id": f"call{n}", "output": f"out {n}"},
        position=n,
    )
