"""``sim/image``: an image-output model.

Like OpenRouter's image models, it draws only when the request asks for the image modality
(``modalities`` contains ``"image"``); otherwise it answers in text and says how to ask. A
drawing is one ``image_generation_call`` output item (OpenAI's Responses shape, in the
OpenRouter spec's event union) whose ``result`` is a base64 PNG, streamed as
``output_item.added`` → ``image_generation_call.in_progress`` → ``.generating`` →
``.completed`` → ``output_item.done``, followed by a short caption message.
"""

from __future__ import annotations

import base64

from pipe_service.simulator.png import png_for_prompt
from pipe_service.simulator.scenarios.base import (
    COMPLETED,
    Ending,
    ScenarioContext,
    add_text,
    echo_of,
)
from pipe_service.simulator.stream_writer import StreamWriter


def draw_image(context: ScenarioContext, out: StreamWriter) -> Ending:
    request = context.request
    if not request.wants_image_output:
        add_text(
            context,
            out,
            'No image requested: send modalities ["image", "text"] to get a drawing.',
        )
        return COMPLETED
    prompt = echo_of(request) or "an empty canvas"
    out.add_image_generation(base64.b64encode(png_for_prompt(prompt)).decode("ascii"))
    add_text(context, out, f"Here is {prompt}.")
    return COMPLETED
