"""provider / models / trace: one row per rule (docs/transform.md, "Routing and cost")."""

from __future__ import annotations

from typing import Any

import pytest

from pipe_service.transform.errors import RequestTransformError
from pipe_service.transform.options import (
    ModelRoutingRule,
    ProviderRouting,
    TransformOptions,
    UserOverrides,
)
from pipe_service.transform.provider_routing import (
    fallback_models,
    provider_field,
    routing_rule_for,
    trace_field,
)
from tests.transform.models import model

CLAUDE = model(slug="anthropic/claude", providers=("anthropic", "google-vertex/us"))
NITRO = model(slug="anthropic/claude:nitro", variant_of="anthropic/claude")
OTHER = model(slug="openai/gpt")
RULES = (
    ModelRoutingRule(
        models=("anthropic/*",), routing=ProviderRouting(sort="latency"), user_override=True
    ),
    ModelRoutingRule(models=("openai/gpt",), routing=ProviderRouting(order=("openai",))),
)
ROUTED = TransformOptions(
    model_routing=RULES, provider_routing=ProviderRouting(data_collection="deny")
)

PROVIDER_CASES: list[tuple[str, TransformOptions, UserOverrides, Any, dict[str, Any] | None]] = [
    ("nothing configured sends nothing", TransformOptions(), UserOverrides(), CLAUDE, None),
    (
        "the global routing alone",
        TransformOptions(provider_routing=ProviderRouting(sort="price")),
        UserOverrides(),
        CLAUDE,
        {"sort": "price"},
    ),
    (
        "a matching rule merges over the global routing",
        ROUTED,
        UserOverrides(),
        CLAUDE,
        {"data_collection": "deny", "sort": "latency"},
    ),
    (
        "a variant matches its base model's rule",
        ROUTED,
        UserOverrides(),
        NITRO,
        {"data_collection": "deny", "sort": "latency"},
    ),
    (
        "the first matching rule wins",
        ROUTED,
        UserOverrides(),
        OTHER,
        {"data_collection": "deny", "order": ["openai"]},
    ),
    (
        "an allowed user routing merges last",
        ROUTED,
        UserOverrides(provider_routing=ProviderRouting(sort="price", only=("anthropic",))),
        CLAUDE,
        {"data_collection": "deny", "sort": "price", "only": ["anthropic"]},
    ),
    (
        "a provider slug's base name is accepted",
        ROUTED,
        UserOverrides(provider_routing=ProviderRouting(ignore=("google-vertex",))),
        CLAUDE,
        {"data_collection": "deny", "sort": "latency", "ignore": ["google-vertex"]},
    ),
    ("enforced ZDR", TransformOptions(zdr_enforce=True), UserOverrides(), CLAUDE, {"zdr": True}),
    (
        "a user's ZDR request",
        TransformOptions(),
        UserOverrides(request_zdr=True),
        CLAUDE,
        {"zdr": True},
    ),
    (
        "a user's ZDR 'off' does not beat enforcement",
        TransformOptions(zdr_enforce=True),
        UserOverrides(request_zdr=False),
        CLAUDE,
        {"zdr": True},
    ),
    (
        "throughput and latency preferences",
        TransformOptions(
            provider_routing=ProviderRouting(preferred_min_throughput=50, preferred_max_latency=1.5)
        ),
        UserOverrides(),
        CLAUDE,
        {"preferred_min_throughput": 50.0, "preferred_max_latency": 1.5},
    ),
]


@pytest.mark.parametrize(
    ("rule", "options", "user", "target", "expected"),
    PROVIDER_CASES,
    ids=[case[0] for case in PROVIDER_CASES],
)
def test_provider(
    rule: str, options: TransformOptions, user: UserOverrides, target: Any, expected: Any
) -> None:
    assert provider_field(options, user, target) == expected


REFUSALS: list[tuple[str, TransformOptions, UserOverrides, Any, str]] = [
    (
        "user routing for a model no rule covers",
        TransformOptions(),
        UserOverrides(provider_routing=ProviderRouting(sort="price")),
        CLAUDE,
        "PROVIDER_ROUTING",
    ),
    (
        "user routing where the rule forbids it",
        ROUTED,
        UserOverrides(provider_routing=ProviderRouting(sort="price")),
        OTHER,
        "PROVIDER_ROUTING",
    ),
    (
        "a provider that does not serve the model",
        ROUTED,
        UserOverrides(provider_routing=ProviderRouting(order=("nowhere",))),
        CLAUDE,
        "PROVIDER_ROUTING.order",
    ),
    (
        "a user ZDR request the admin disallows",
        TransformOptions(allow_user_zdr=False),
        UserOverrides(request_zdr=True),
        CLAUDE,
        "REQUEST_ZDR",
    ),
]


@pytest.mark.parametrize(
    ("rule", "options", "user", "target", "field"), REFUSALS, ids=[case[0] for case in REFUSALS]
)
def test_refused(
    rule: str, options: TransformOptions, user: UserOverrides, target: Any, field: str
) -> None:
    with pytest.raises(RequestTransformError) as raised:
        provider_field(options, user, target)
    assert raised.value.field == field


def test_refusal_names_the_admin_setting_and_the_known_providers() -> None:
    with pytest.raises(RequestTransformError, match="user_override"):
        provider_field(ROUTED, UserOverrides(provider_routing=ProviderRouting(sort="price")), OTHER)
    with pytest.raises(RequestTransformError, match="anthropic, google-vertex/us"):
        provider_field(ROUTED, UserOverrides(provider_routing=ProviderRouting(only=("x",))), CLAUDE)


def test_unknown_provider_lists_leave_the_choice_to_openrouter() -> None:
    unknown = model(slug="anthropic/other")
    user = UserOverrides(provider_routing=ProviderRouting(only=("anyone",)))
    assert provider_field(ROUTED, user, unknown) == {
        "data_collection": "deny",
        "sort": "latency",
        "only": ["anyone"],
    }


def test_rule_lookup_none_when_nothing_matches() -> None:
    assert routing_rule_for(model(slug="meta/llama"), ROUTED) is None


FALLBACKS: list[tuple[str, dict[str, Any], tuple[str, ...], list[str]]] = [
    ("admin fallbacks", {}, ("b/x", "c/y"), ["b/x", "c/y"]),
    ("body list wins", {"models": ["d/z"]}, ("b/x",), ["d/z"]),
    ("body CSV", {"models": "d/z, e/w"}, (), ["d/z", "e/w"]),
    ("model_fallback CSV custom param", {"model_fallback": "d/z,,e/w"}, (), ["d/z", "e/w"]),
    (
        "the model itself and duplicates are dropped",
        {"models": ["acme/full", "d/z", "d/z"]},
        (),
        ["d/z"],
    ),
    ("an empty custom param means unset", {"models": ""}, ("b/x",), ["b/x"]),
]


@pytest.mark.parametrize(
    ("rule", "body", "admin", "expected"), FALLBACKS, ids=[case[0] for case in FALLBACKS]
)
def test_fallbacks(
    rule: str, body: dict[str, Any], admin: tuple[str, ...], expected: list[str]
) -> None:
    options = TransformOptions(fallback_models=admin)
    assert fallback_models(body, options, model()) == expected


def test_a_fallback_list_of_non_strings_is_refused() -> None:
    with pytest.raises(RequestTransformError, match="models"):
        fallback_models({"models": [1, 2]}, TransformOptions(), model())


TRACES: list[tuple[str, Any, Any]] = [
    ("absent", None, None),
    ("an object", {"trace_id": "t", "span_name": "s"}, {"trace_id": "t", "span_name": "s"}),
    ("JSON text", '{"trace_id": "t"}', {"trace_id": "t"}),
    ("long values are cut", {"trace_id": "x" * 300}, {"trace_id": "x" * 256}),
]


@pytest.mark.parametrize(("rule", "raw", "expected"), TRACES, ids=[case[0] for case in TRACES])
def test_trace(rule: str, raw: Any, expected: Any) -> None:
    body = {} if raw is None else {"openrouter_trace": raw}
    assert trace_field(body) == expected


@pytest.mark.parametrize("raw", ["not json", "[1]", {"nested": {"x": 1}}])
def test_a_malformed_trace_is_refused(raw: Any) -> None:
    with pytest.raises(RequestTransformError, match="openrouter_trace"):
        trace_field({"openrouter_trace": raw})


def test_fallbacks_named_by_the_request_must_be_offered() -> None:
    offered = {"d/z"}.__contains__
    assert fallback_models({"models": ["d/z"]}, TransformOptions(), model(), offered=offered) == [
        "d/z"
    ]
    with pytest.raises(RequestTransformError, match="'e/w' is not offered"):
        fallback_models({"models": "d/z,e/w"}, TransformOptions(), model(), offered=offered)


def test_the_admins_fallbacks_are_trusted_as_configured() -> None:
    options = TransformOptions(fallback_models=("hidden/model",))
    assert fallback_models({}, options, model(), offered=lambda _: False) == ["hidden/model"]
