"""The SSRF guard refuses hostile URLs before any connection, and says why in the log.

``HOSTILE`` is the suite the issue asks for: numeric IPv4 shorthands, IPv6 forms, private,
metadata and reserved space, userinfo and parser tricks, names that resolve inward, DNS
failures. Every URL is checked twice: once by the guard alone (reason and log line), once
through the whole fetcher against a live loopback listener that counts accepted connections
(it must stay at zero). ``{port}`` is the listener's port, so a guard bug would hit it.
"""

from __future__ import annotations

import ipaddress
import logging

import httpx
import pytest
import trio
import trio.testing

from pipe_service.fetch.fetcher import FetchLimits, RemoteFetcher
from pipe_service.fetch.pinned_transport import PinnedTransport
from pipe_service.fetch.ssrf_guard import (
    SystemResolver,
    UnsafeUrlError,
    UrlPolicy,
    ValidatedTarget,
    address_refusal,
    validate_url,
)
from tests.fetch.conftest import CountingServer, MapResolver

PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")

RESOLVER_TABLE = {
    "public.example": [PUBLIC],
    "internal.example": [LOOPBACK],
    "mixed.example": [PUBLIC, ipaddress.ip_address("10.0.0.5")],
    "v6-loopback.example": [ipaddress.ip_address("::1")],
    "mapped.example": [ipaddress.ip_address("::ffff:10.1.2.3")],
    "127.0.0.1.nip.io": [LOOPBACK],
    "cgnat.example": [ipaddress.ip_address("100.80.1.1")],
    "empty.example": [],
}

HOSTILE: list[tuple[str, str]] = [
    # numeric IPv4 shorthands (inet_aton forms) and plain loopback
    ("https://127.0.0.1:{port}/", "loopback"),
    ("https://127.0.0.1.:{port}/", "loopback"),
    ("https://2130706433:{port}/", "ambiguous_ipv4_form"),
    ("https://0x7f000001:{port}/", "ambiguous_ipv4_form"),
    ("https://0x7f.0.0.1:{port}/", "ambiguous_ipv4_form"),
    ("https://0x7f.0x0.0x0.0x1:{port}/", "ambiguous_ipv4_form"),
    ("https://017700000001:{port}/", "ambiguous_ipv4_form"),
    ("https://0177.0.0.1:{port}/", "malformed_url"),
    ("https://127.1:{port}/", "ambiguous_ipv4_form"),
    ("https://127.0.1:{port}/", "ambiguous_ipv4_form"),
    ("https://0:{port}/", "ambiguous_ipv4_form"),
    ("https://0.0.0.0:{port}/", "unspecified"),
    # IPv6 forms
    ("https://[::]:{port}/", "unspecified"),
    ("https://[::1]:{port}/", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]:{port}/", "loopback"),
    ("https://[::ffff:127.0.0.1]:{port}/", "ipv4_mapped"),
    ("https://[::ffff:7f00:1]:{port}/", "ipv4_mapped"),
    ("https://[::ffff:169.254.169.254]/", "ipv4_mapped"),
    ("https://[fe80::1]/", "link_local"),
    ("https://[fe80::1%25eth0]/", "percent_in_host"),
    ("https://[fc00::1]/", "private"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[2002:7f00:1::]/", "6to4_loopback"),
    ("https://[64:ff9b::a9fe:a9fe]/", "nat64_cloud_metadata"),
    ("https://[2001::1]/", "teredo"),
    ("https://[2001:db8::1]/", "private"),
    # cloud metadata
    ("https://169.254.169.254/latest/meta-data/", "cloud_metadata"),
    ("https://169.254.170.2/v2/credentials", "cloud_metadata"),
    ("https://metadata.google.internal/computeMetadata/v1/", "cloud_metadata"),
    ("https://metadata/computeMetadata/v1/", "cloud_metadata"),
    ("https://100.100.100.200/latest/meta-data/", "cloud_metadata"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "cloud_metadata"),
    # private, CGNAT, link-local, multicast, reserved IPv4
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://192.0.2.1/", "private"),
    ("https://100.64.0.1/", "cgnat"),
    ("https://169.254.1.1/", "link_local"),
    ("https://224.0.0.1/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "reserved"),
    # names that resolve inward, and DNS failures
    ("https://localhost:{port}/", "loopback"),
    ("https://app.localhost:{port}/", "loopback"),
    ("https://internal.example:{port}/", "loopback"),
    ("https://127.0.0.1.nip.io:{port}/", "loopback"),
    ("https://v6-loopback.example:{port}/", "loopback"),
    ("https://mapped.example/", "ipv4_mapped"),
    ("https://mixed.example/", "private"),
    ("https://cgnat.example/", "cgnat"),
    ("https://nxdomain.example/", "dns_failure"),
    ("https://empty.example/", "dns_failure"),
    # userinfo and parser tricks
    ("https://public.example@127.0.0.1:{port}/", "userinfo_in_url"),
    ("https://user:secret@public.example/", "userinfo_in_url"),
    ("https://public.example\\@127.0.0.1:{port}/", "malformed_url"),
    ("https://public.example /", "malformed_url"),
    ("https://ex%61mple.com/", "percent_in_host"),
    # schemes
    ("http://public.example/", "plain_http_not_allowed"),
    ("http://127.0.0.1:{port}/", "plain_http_not_allowed"),
    ("ftp://public.example/", "scheme_not_allowed"),
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("gopher://127.0.0.1:{port}/", "scheme_not_allowed"),
    ("https:///no-host", "no_host"),
    ("https://public.example:0/", "bad_port"),
    ("https://public.example:99999/", "bad_port"),
    # Unicode look-alikes: IDNA maps the ideographic full stop to a dot
    ("https://127\u30020\u30020\u30021:{port}/", "loopback"),
    ("https://LOCALHOST:{port}/", "loopback"),
    ("https://\u2460\u2461\u2466.0.0.1/", "malformed_url"),
    ("https://%31%32%37.0.0.1/", "percent_in_host"),
]


def test_the_hostile_suite_has_at_least_thirty_urls() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(("template", "reason"), HOSTILE, ids=[url for url, _ in HOSTILE])
async def test_hostile_url_is_refused_with_its_reason_logged(
    template: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = template.format(port=8443)
    caplog.set_level(logging.WARNING, logger="pipe_service.fetch.ssrf_guard")
    with pytest.raises(UnsafeUrlError) as refused:
        await validate_url(url, UrlPolicy(), MapResolver(RESOLVER_TABLE))
    assert refused.value.reason == reason
    assert any(f"remote URL refused: {reason}" in record.message for record in caplog.records)


async def test_no_hostile_url_opens_a_connection(http_server: CountingServer) -> None:
    built: list[ValidatedTarget] = []

    def recording_transport(target: ValidatedTarget, budget: int) -> httpx.AsyncBaseTransport:
        built.append(target)
        return PinnedTransport(target, read_budget=budget)

    fetcher = RemoteFetcher(
        FetchLimits(max_bytes=1024, max_retries=0),
        UrlPolicy(),
        MapResolver(RESOLVER_TABLE),
        transport_factory=recording_transport,
    )
    with trio.fail_after(10):
        for template, reason in HOSTILE:
            with pytest.raises(UnsafeUrlError) as refused:
                await fetcher.fetch(template.format(port=http_server.port))
            assert refused.value.reason == reason
    assert built == []
    assert http_server.accepts == 0
    assert fetcher.statistics().refused == len(HOSTILE)


async def test_the_refusal_log_never_shows_userinfo_or_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pipe_service.fetch.ssrf_guard")
    with pytest.raises(UnsafeUrlError):
        await validate_url(
            "https://user:hunter2@public.example/private?token=abc",
            UrlPolicy(),
            MapResolver(RESOLVER_TABLE),
        )
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "hunter2" not in logged
    assert "token" not in logged
    assert "public.example" in logged


async def test_a_public_name_is_pinned_to_its_validated_address() -> None:
    target = await validate_url(
        "https://public.example/a.png", UrlPolicy(), MapResolver(RESOLVER_TABLE)
    )
    assert (target.host, target.port, target.address) == ("public.example", 443, PUBLIC)


async def test_plain_http_passes_only_for_an_allowlisted_host_and_port() -> None:
    policy = UrlPolicy(http_hosts=frozenset({"public.example:8080"}))
    resolver = MapResolver(RESOLVER_TABLE)
    target = await validate_url("http://public.example:8080/x", policy, resolver)
    assert target.port == 8080
    with pytest.raises(UnsafeUrlError, match="plain_http_not_allowed"):
        await validate_url("http://public.example:8081/x", policy, resolver)


async def test_a_trusted_host_skips_the_address_check_but_not_the_scheme_rules() -> None:
    policy = UrlPolicy(trusted_hosts=frozenset({"internal.example"}))
    resolver = MapResolver(RESOLVER_TABLE)
    target = await validate_url("https://internal.example/x", policy, resolver)
    assert target.address == LOOPBACK
    with pytest.raises(UnsafeUrlError, match="plain_http_not_allowed"):
        await validate_url("http://internal.example/x", policy, resolver)


async def test_a_literal_address_is_not_sent_to_the_resolver() -> None:
    resolver = MapResolver(RESOLVER_TABLE)
    target = await validate_url("https://[2606:4700::1111]/", UrlPolicy(), resolver)
    assert str(target.address) == "2606:4700::1111"
    assert resolver.lookups == []


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2a00:1450:4001::200e"]
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


async def test_the_system_resolver_returns_every_address_of_a_name() -> None:
    with trio.fail_after(10):
        addresses = await SystemResolver().resolve("localhost", 443)
    assert LOOPBACK in addresses or ipaddress.ip_address("::1") in addresses


class _SilentResolver:
    async def resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_a_lookup_without_an_answer_is_a_dns_failure_after_the_dns_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    with pytest.raises(UnsafeUrlError) as refused:
        await validate_url("https://slow.example/", UrlPolicy(dns_timeout_s=3.0), _SilentResolver())
    assert refused.value.reason == "dns_failure"
    assert trio.current_time() - start == 3.0
