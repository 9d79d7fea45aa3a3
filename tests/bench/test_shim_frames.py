"""``python -m pipe_service.bench.shim_frames``: the shim file, loaded as Open WebUI loads it,
drains a burst of frames from a real WebSocket server process and reports its own CPU."""

from __future__ import annotations

import json
import subprocess
import sys

RUN_S = 120.0


def _run(*args: str) -> dict[str, object]:
    command = [sys.executable, "-m", "pipe_service.bench.shim_frames", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_S, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_every_frame_of_every_chat_reaches_open_webui_as_text() -> None:
    report = _run("--frames", "200", "--chats", "2")

    # "w0 " … "w199 ": 3 characters each for w0-w9, 4 for w10-w99, 5 for w100-w199.
    assert report["chars"] == 2 * (3 * 10 + 4 * 90 + 5 * 100)
    assert 2 <= int(str(report["chunks"])) <= 400
    assert float(str(report["cpu_s"])) > 0
    assert float(str(report["cpu_ms_per_chat"])) > 0
