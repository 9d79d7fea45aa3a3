"""Where a request may run and what it may cost: ``provider``, ``models`` and ``trace``.

``provider`` is built in layers, each over the one before:

1. the global ``provider_routing`` option;
2. the first ``model_routing`` rule whose globs match the model (the admin's per-model routing);
3. the user's own ``provider_routing`` (user valve ``PROVIDER_ROUTING``), only when that rule
   sets ``user_override``; otherwise the request is refused with an error naming the valve.
   Provider slugs the user names in ``order``/``only``/``ignore`` must be among the model's
   providers (its ``/models/{slug}/endpoints`` list) when the catalog knows them;
4. ``zdr: true`` when the admin enforces ZDR, or when the user asks (user valve
   ``REQUEST_ZDR``) and the admin allows it; a refused ask names the valve.

``models`` (fallback models) comes from the chat body's ``models`` list or CSV, or its
``model_fallback`` CSV (Open WebUI custom params land in the body), else from the admin's
``fallback_models``; the model itself and duplicates are dropped, and a model the body names
must be offered here (the catalog filters apply to fallbacks too). ``trace`` comes from the
body's ``openrouter_trace`` custom param (an object, or its JSON text).

Synopsis::

    provider = provider_field(options, user, model)      # raises RequestTransformError
    fallbacks = fallback_models(body, options, model)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from pipe_service.catalog.capabilities import ModelCapabilities
from pipe_service.catalog.filters import matches_allowlist
from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.options import (
    ModelRoutingRule,
    ProviderRouting,
    TransformOptions,
    UserOverrides,
)

__all__ = [
    "MAX_TRACE_FIELDS",
    "Offered",
    "fallback_models",
    "provider_field",
    "routing_rule_for",
    "trace_field",
]

MAX_TRACE_FIELDS: Final = 16
Offered = Callable[[str], bool]
"""Says whether a model id is offered here (in the filtered catalog)."""
_MAX_TRACE_VALUE_CHARS: Final = 256
_NAMED_LISTS: Final = ("order", "only", "ignore")


def routing_rule_for(
    model: ModelCapabilities, options: TransformOptions
) -> ModelRoutingRule | None:
    """The first rule whose globs match the model's slug (or, for a variant, its base)."""
    for rule in options.model_routing:
        if matches_allowlist(model.slug, rule.models) or matches_allowlist(
            model.base_slug, rule.models
        ):
            return rule
    return None


def provider_field(
    options: TransformOptions, user: UserOverrides, model: ModelCapabilities
) -> dict[str, Any] | None:
    """The ``provider`` object (see the module docstring), or None when there is nothing."""
    provider = options.provider_routing.to_payload() if options.provider_routing else {}
    rule = routing_rule_for(model, options)
    if rule is not None:
        provider.update(rule.routing.to_payload())
    if user.provider_routing is not None:
        if rule is None or not rule.user_override:
            raise RequestTransformError(
                "PROVIDER_ROUTING",
                f"per-user provider routing is not allowed for {model.slug}; the admin "
                "allows it per model (chat.model_routing[].user_override)",
            )
        _check_known_providers(user.provider_routing, model)
        provider.update(user.provider_routing.to_payload())
    if user.request_zdr and not options.allow_user_zdr:
        raise RequestTransformError(
            "REQUEST_ZDR",
            "requesting zero data retention per user is turned off by the admin "
            "(chat.allow_user_zdr); turn the valve off or ask the admin",
        )
    if options.zdr_enforce or user.request_zdr:
        provider["zdr"] = True
    return provider or None


def _check_known_providers(routing: ProviderRouting, model: ModelCapabilities) -> None:
    known = model.providers
    if not known:
        return  # the catalog has no endpoints list for this model: OpenRouter will judge
    accepted = {slug.lower() for slug in known} | {slug.split("/", 1)[0].lower() for slug in known}
    for name in _NAMED_LISTS:
        for slug in getattr(routing, name) or ():
            if slug.lower() not in accepted:
                raise RequestTransformError(
                    f"PROVIDER_ROUTING.{name}",
                    f"{slug!r} does not serve {model.slug}; its providers are "
                    + ", ".join(sorted(known)),
                )


def fallback_models(
    body: Mapping[str, Any],
    options: TransformOptions,
    model: ModelCapabilities,
    *,
    offered: Offered | None = None,
) -> list[str]:
    """The ``models`` fallback list: the body's (custom param) list, else the admin's.

    With ``offered``, every model the body names must be offered here; the admin's own list
    is trusted as configured.
    """
    requested = _body_fallbacks(body)
    if requested is not None and offered is not None:
        for slug in requested:
            if slug != model.slug and not offered(slug):
                raise RequestTransformError(
                    "models", f"fallback model {slug!r} is not offered on this server"
                )
    chosen = options.fallback_models if requested is None else requested
    return [slug for slug in dict.fromkeys(chosen) if slug != model.slug]


def _body_fallbacks(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    for key in ("models", "model_fallback"):
        value = body.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            entries = [part.strip() for part in value.split(",")]
        elif isinstance(value, list) and all(isinstance(entry, str) for entry in value):
            entries = [entry.strip() for entry in value]
        else:
            raise RequestTransformError(key, "must be a list of model slugs or a CSV string")
        return tuple(entry for entry in entries if entry)
    return None


def trace_field(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``trace`` from the ``openrouter_trace`` custom param (object or JSON object text)."""
    raw = body.get("openrouter_trace")
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise RequestTransformError("openrouter_trace", "is not valid JSON") from None
    if not isinstance(raw, Mapping):
        raise RequestTransformError("openrouter_trace", "must be an object such as {trace_id}")
    trace: dict[str, Any] = {}
    for key, value in raw.items():
        if len(trace) == MAX_TRACE_FIELDS:
            break
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise RequestTransformError(
                "openrouter_trace", "must map names to strings, numbers or booleans"
            )
        trace[key] = value[:_MAX_TRACE_VALUE_CHARS] if isinstance(value, str) else value
    return trace or None
