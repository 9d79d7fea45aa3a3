"""The [media] settings: host allowlists are validated and become the fetcher's policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipe_service.media.settings import MEGABYTE, MediaSettings


def test_host_entries_are_normalised_into_the_url_policy() -> None:
    settings = MediaSettings(allow_http_hosts=[" Assets.Internal:8080 "], trusted_hosts=["[::1]"])
    policy = settings.url_policy()
    assert policy.http_hosts == frozenset({"assets.internal:8080"})
    assert policy.trusted_hosts == frozenset({"[::1]"})
    assert policy.enabled is True


@pytest.mark.parametrize("entry", ["http://assets.internal", "assets.internal/path", "a b"])
def test_a_url_instead_of_a_host_entry_is_refused_with_the_fix(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not a host or host:port entry"):
        MediaSettings(allow_http_hosts=[entry])


def test_fetch_limits_follow_the_settings() -> None:
    limits = MediaSettings(fetch_max_mb=3, fetch_max_retries=1, fetch_concurrency=2).fetch_limits()
    assert (limits.max_bytes, limits.max_retries, limits.concurrency) == (3 * MEGABYTE, 1, 2)
