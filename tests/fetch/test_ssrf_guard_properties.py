"""Properties of the SSRF guard: any URL is either refused with a reason or pinned to a public
address; no input makes it raise anything else."""

from __future__ import annotations

import ipaddress

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from pipe_service.fetch.ssrf_guard import (
    UnsafeUrlError,
    UrlPolicy,
    ValidatedTarget,
    address_refusal,
    validate_url,
)
from tests.fetch.conftest import MapResolver

RESOLVER = MapResolver({"public.example": [ipaddress.ip_address("93.184.216.34")]})


def _verdict(url: str) -> ValidatedTarget | UnsafeUrlError:
    async def check() -> ValidatedTarget | UnsafeUrlError:
        try:
            return await validate_url(url, UrlPolicy(), RESOLVER)
        except UnsafeUrlError as exc:
            return exc

    return trio.run(check)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv4_literal_is_pinned_only_when_public(number: int) -> None:
    address = ipaddress.IPv4Address(number)
    verdict = _verdict(f"https://{address}/x")
    if isinstance(verdict, UnsafeUrlError):
        assert verdict.reason == address_refusal(address)
    else:
        assert address_refusal(verdict.address) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_every_ipv6_literal_is_pinned_only_when_public(number: int) -> None:
    address = ipaddress.IPv6Address(number)
    verdict = _verdict(f"https://[{address}]/x")
    if isinstance(verdict, ValidatedTarget):
        assert address_refusal(verdict.address) is None
    else:
        assert verdict.reason


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_refused_with_a_reason_or_pinned_to_a_public_address(text: str) -> None:
    for candidate in (text, f"https://{text}", f"https://public.example/{text}"):
        verdict = _verdict(candidate)
        if isinstance(verdict, ValidatedTarget):
            assert all(address_refusal(address) is None for address in verdict.addresses)
        else:
            assert verdict.reason
