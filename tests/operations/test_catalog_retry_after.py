"""``catalog.unavailable_retry_after_s``: the retry hint of a chat that arrives before the first
catalog, carried by the catalog's error to both fronts, bounded, and changeable at run time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pipe_service.catalog.actor import Catalog, CatalogUnavailableError
from pipe_service.catalog.filters import CatalogFilterOptions
from pipe_service.chat.error_messages import LocalError
from pipe_service.config import Settings
from pipe_service.front.openai_errors import api_error_for
from pipe_service.front.pipe.render import error_frame_for
from pipe_service.openrouter.errors import UpstreamError
from pipe_service.protocol import Error
from tests.operations.conftest import OpsSidecar


class Wording:
    def error_markdown(self, error: UpstreamError | LocalError) -> str:
        return f"error {error.kind.value} {error.error_id}"


def _unavailable(retry_after_s: int) -> CatalogUnavailableError:
    catalog = Catalog(CatalogFilterOptions(), unavailable_retry_after_s=retry_after_s)
    with pytest.raises(CatalogUnavailableError) as caught:
        catalog.current()
    return caught.value


def test_both_fronts_send_the_configured_hint_before_the_first_catalog() -> None:
    exc = _unavailable(17)
    assert exc.retry_after_s == 17
    api = api_error_for(exc)
    assert (api.status, api.code) == (503, "catalog_unavailable")
    assert api.headers == {"Retry-After": "17"}
    frame = error_frame_for(exc, Wording())
    assert isinstance(frame, Error)
    assert (frame.code, frame.retry_after_s) == ("catalog_unavailable", 17.0)


def test_the_default_hint_is_five_seconds_and_the_bounds_are_checked() -> None:
    assert Settings().catalog.unavailable_retry_after_s == 5
    for bad in (0, 601):
        with pytest.raises(ValidationError, match="unavailable_retry_after_s"):
            Settings(catalog={"unavailable_retry_after_s": bad})


@pytest.fixture
def ops_overrides() -> dict[str, Any]:
    return {"catalog": {"unavailable_retry_after_s": 7}}


async def test_the_hint_is_read_at_start_and_changes_at_run_time(ops_sidecar: OpsSidecar) -> None:
    catalog = ops_sidecar.running.gateway.catalog
    assert catalog.unavailable_retry_after_s == 7
    reply = await ops_sidecar.admin_set("catalog.unavailable_retry_after_s", "11")
    assert reply.status_code == 200
    assert reply.json() == {"applied": ["catalog.unavailable_retry_after_s"], "needs_restart": []}
    assert catalog.unavailable_retry_after_s == 11
