"""An unhandled exception in a route is a JSON 500 with an error id, never an HTML page."""

from __future__ import annotations

from pathlib import Path

from pipe_service.front.app import create_front_app
from tests.service.conftest import bare_context, make_settings


async def test_an_unhandled_exception_is_a_json_500_with_an_error_id(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_front_app(bare_context(settings))

    async def boom() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", view_func=boom)
    assert settings.api_token is not None
    headers = {"Authorization": f"Bearer {settings.api_token.get_secret_value()}"}
    response = await app.test_client().get("/boom", headers=headers)
    assert response.status_code == 500
    assert response.content_type == "application/json"
    error = (await response.get_json())["error"]
    assert error["code"] == "internal_error"
    assert error["message"].startswith("internal error (error id err_")
    assert "a bug" not in error["message"]
