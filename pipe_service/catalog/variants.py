"""Admin-configured variant and preset models that inherit a catalog model's metadata.

OpenRouter accepts ``<slug>:<variant>`` for any model (``:nitro`` fastest providers, ``:floor``
cheapest, ``:exacto`` tool-call-accurate providers, ``:online`` web search, ``:thinking``
reasoning on, ``:extended`` longer context) and ``@preset/<name>`` for presets saved in the
account. Neither appears in ``/models``, so the admin lists the ones to offer:

* ``"<slug>:<variant>"``, e.g. ``"anthropic/claude-sonnet-4.5:nitro"``: the base is ``<slug>``;
* ``"@preset/<name>=<slug>"``: the preset, shown with the metadata of ``<slug>`` (the model the
  preset uses; a preset names no model OpenRouter would tell us about).

Each entry becomes a model listed right after its base, with the base's capabilities, prices,
providers and ZDR status, named ``"<base name> (<variant>)"``, sent upstream under its own id
unchanged. An entry whose base is not in the (filtered) catalog is left out.

Synopsis::

    spec = parse_variant("openai/gpt-4o:online")
    models = expand_variants(models, [spec])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from pipe_service.catalog.capabilities import ModelCapabilities

__all__ = ["PRESET_PREFIX", "VARIANT_TAGS", "VariantSpec", "expand_variants", "parse_variant"]

VARIANT_TAGS: Final = frozenset(
    {"nitro", "floor", "exacto", "online", "thinking", "extended", "free"}
)
PRESET_PREFIX: Final = "@preset/"


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One configured entry: the id offered and the catalog model it inherits from."""

    model_id: str
    base: str
    label: str


def parse_variant(entry: str) -> VariantSpec:
    """Read one ``variant_models`` entry; ``ValueError`` says what is wrong and the fix."""
    entry = entry.strip()
    if entry.startswith(PRESET_PREFIX):
        preset, equals, base = entry.partition("=")
        name = preset.removeprefix(PRESET_PREFIX).strip()
        if not equals or not name or "/" not in base.strip():
            raise ValueError(
                f"variant_models entry {entry!r}: write a preset as "
                "'@preset/<name>=<base model slug>'"
            )
        return VariantSpec(f"{PRESET_PREFIX}{name}", base.strip(), f"preset {name}")
    base, colon, tag = entry.rpartition(":")
    if not colon or not base or tag not in VARIANT_TAGS:
        raise ValueError(
            f"variant_models entry {entry!r}: write '<model slug>:<variant>' with a variant of "
            + ", ".join(sorted(VARIANT_TAGS))
            + ", or '@preset/<name>=<model slug>'"
        )
    return VariantSpec(entry, base, tag)


def expand_variants(
    models: Sequence[ModelCapabilities], specs: Iterable[VariantSpec]
) -> list[ModelCapabilities]:
    """``models`` with each spec's model inserted after its base (bases not present: skipped)."""
    by_base: dict[str, list[VariantSpec]] = {}
    for spec in specs:
        by_base.setdefault(spec.base, []).append(spec)
    present = {model.slug for model in models}
    expanded: list[ModelCapabilities] = []
    for model in models:
        expanded.append(model)
        for spec in by_base.get(model.slug, []):
            if spec.model_id in present:
                continue  # the catalog lists this id itself: its own row wins
            expanded.append(
                dataclasses.replace(
                    model,
                    slug=spec.model_id,
                    name=f"{model.name} ({spec.label})",
                    variant_of=model.slug,
                    # OpenRouter's ":free" variant costs nothing, whatever its base costs.
                    is_free=model.is_free or spec.label == "free",
                )
            )
    return expanded
