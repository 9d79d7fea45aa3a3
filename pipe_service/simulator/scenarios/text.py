"""Plain text answers: ``sim/text``, ``sim/text:free``, ``sim/vision`` and ``sim/stall``."""

from __future__ import annotations

from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    ScenarioContext,
    add_text,
    text_answer,
)
from pipe_service.simulator.stream_writer import StreamWriter


def plain_text(context: ScenarioContext, out: StreamWriter) -> Ending:
    add_text(context, out, text_answer(context))
    return COMPLETED


def describe_attachments(context: ScenarioContext, out: StreamWriter) -> Ending:
    """Says how many images and files arrived, e.g. ``Received 2 image(s) and 1 file(s): a.pdf.``"""
    request = context.request
    names = f": {', '.join(request.file_names)}" if request.file_names else ""
    lead = f"Received {request.image_count} image(s) and {request.file_count} file(s){names}."
    add_text(context, out, text_answer(context, lead))
    return COMPLETED


def stall_then_text(context: ScenarioContext, out: StreamWriter) -> Ending:
    """Silence for ``stall_s`` after response.in_progress, then a normal text answer."""
    out.stall(context.pacing.stall_s)
    return plain_text(context, out)
