"""The seed's identifier valves: what ``user`` carries, single metadata ids, user ZDR override."""

from __future__ import annotations

import pytest

from pipe_service.transform.options import (
    ProviderRouting,
    RequestIdentity,
    TransformOptions,
    UserOverrides,
)
from tests.transform.models import body, build, model

IDENTITY = RequestIdentity(
    user_id="u-1",
    user_email="ada@example.com",
    user_name="Ada",
    chat_id="c-1",
    session_id="s-1",
    message_id="m-1",
)


@pytest.mark.parametrize(
    ("source", "sent"), [("id", "u-1"), ("email", "ada@example.com"), ("name", "Ada")]
)
def test_end_user_id_source_chooses_what_user_carries(source: str, sent: str) -> None:
    options = TransformOptions(send_user_id=True, end_user_id_source=source)  # type: ignore[arg-type]
    assert build(body(), options=options, identity=IDENTITY)["user"] == sent


def test_send_chat_id_alone_sends_only_the_chat_id() -> None:
    options = TransformOptions(send_chat_id=True)
    assert build(body(), options=options, identity=IDENTITY)["metadata"] == {"chat_id": "c-1"}


def test_send_message_id_alone_sends_only_the_message_id() -> None:
    options = TransformOptions(send_message_id=True)
    assert build(body(), options=options, identity=IDENTITY)["metadata"] == {"message_id": "m-1"}


def test_a_users_zdr_request_is_honoured_by_default() -> None:
    payload = build(body(), user=UserOverrides(request_zdr=True))
    assert payload["provider"] == {"zdr": True}


def test_the_admin_may_refuse_users_zdr_requests() -> None:
    options = TransformOptions(allow_user_zdr=False)
    payload = build(body(), options=options, user=UserOverrides(request_zdr=True))
    assert "provider" not in payload


def test_a_models_own_provider_routing_replaces_the_global_one() -> None:
    options = TransformOptions(
        provider_routing=ProviderRouting(sort="price"),
        provider_routing_by_model={"acme/*": ProviderRouting(order=("fast-host",))},
    )
    assert build(body(), options=options)["provider"] == {"order": ["fast-host"]}
    assert build(body(), model(slug="other/x"), options=options)["provider"] == {"sort": "price"}
