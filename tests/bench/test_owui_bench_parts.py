"""``bench --owui``'s pure parts: per-delta accounting, the shim-vs-passthrough comparison, the
tables and the docs section with its chart, the options, and a missing Open WebUI venv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipe_service.bench.owui_results import (
    OwuiLevel,
    OwuiReport,
    comparison_rows,
    render_markdown,
    report_as_json,
    summary_rows,
)
from pipe_service.bench.results import Machine, PathResult
from pipe_service.bench.streams import StreamSample
from pipe_service.cli import main

DELTAS = 100


def _result(first_s: float, chunks: int, streams: int = 2) -> PathResult:
    samples = [
        StreamSample(first_s, 2.5, chunks, "abc", max_gap_s=0.05 + 0.01 * i) for i in range(streams)
    ]
    return PathResult.of(
        samples, expected_streams=streams, reference_text="abc", deltas_per_stream=DELTAS,
        wall_s=3.0,
    )  # fmt: skip


def _report() -> OwuiReport:
    report = OwuiReport(Machine(2, "cpu", "3.11", (1.0, 1.0, 1.0)), "paced", {}, DELTAS)
    report.levels = [
        OwuiLevel("shim", 2, 1, _result(0.25, 50), owui_cpu_s=0.02, sidecar_cpu_s=0.06),
        OwuiLevel("passthrough", 2, 1, _result(0.24, 100), owui_cpu_s=0.04, sidecar_cpu_s=None),
    ]
    return report


def test_cpu_is_per_upstream_delta_whatever_the_chunks() -> None:
    shim, passthrough = summary_rows(_report())

    # 2 streams x 100 deltas: 0.02 s of Open WebUI CPU is 100 µs per delta.
    assert (shim["owui_cpu_us_per_delta"], shim["sidecar_cpu_us_per_delta"]) == (100.0, 300.0)
    assert shim["total_cpu_us_per_delta"] == 400.0
    assert shim["owui_cpu_ms_per_request"] == 10.0
    assert (shim["chunks_per_stream"], passthrough["chunks_per_stream"]) == (50.0, 100.0)
    assert passthrough["sidecar_cpu_us_per_delta"] is None
    assert passthrough["total_cpu_us_per_delta"] == passthrough["owui_cpu_us_per_delta"] == 200.0
    assert (shim["ttft_p50_ms"], shim["max_gap_p99_ms"]) == (250.0, 59.9)


def test_the_comparison_is_shim_over_passthrough() -> None:
    (row,) = comparison_rows(_report())

    assert row == {
        "concurrency": 2,
        "owui_cpu_ratio": 0.5,
        "total_cpu_ratio": 2.0,
        "added_ttft_p50_ms": 10.0,
    }


def test_a_pipe_without_good_streams_has_no_figures_not_zeroes() -> None:
    failed = PathResult.of(
        [StreamSample(None, None, 0, "", "HTTP 500")],
        expected_streams=1, reference_text="abc", deltas_per_stream=DELTAS, wall_s=1.0,
    )  # fmt: skip
    report = _report()
    report.levels[1] = OwuiLevel("passthrough", 2, 1, failed, owui_cpu_s=0.01, sidecar_cpu_s=None)

    passthrough = summary_rows(report)[1]
    assert passthrough["owui_cpu_us_per_delta"] is None
    assert passthrough["errors"] == 1
    assert comparison_rows(report)[0]["owui_cpu_ratio"] is None
    assert "| 2 x 1 | passthrough | - / - |" in render_markdown(report)


def test_markdown_and_json_carry_both_pipes() -> None:
    report = _report()

    text = render_markdown(report)
    body = json.loads(json.dumps(report_as_json(report)))

    assert "| 2 x 1 | shim | 250.0 / 250.0 | 59.9 | 50.0 | 100 | 300 | 400 | 10.00 | 0 |" in text
    assert "| 2 | 0.50 | 2.00 | 10.0 |" in text
    assert body["kind"] == "owui"
    assert [row["path"] for row in body["summary"]] == ["shim", "passthrough"]
    assert body["comparison"][0]["total_cpu_ratio"] == 2.0


def test_the_owui_docs_section_and_chart_are_written(tmp_path: Path) -> None:
    from pipe_service.bench.charts import (
        END_MARKER,
        OWUI_END_MARKER,
        OWUI_START_MARKER,
        START_MARKER,
        update_owui_docs,
        write_owui_chart,
    )

    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"{START_MARKER}\nmain\n{END_MARKER}\n\n{OWUI_START_MARKER}\nold\n{OWUI_END_MARKER}\nend\n"
    )

    chart = write_owui_chart(_report(), tmp_path)
    update_owui_docs(doc, _report(), chart, "pipe-service bench --owui")

    text = doc.read_text()
    assert chart.name == "bench-owui.png"
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "old" not in text
    assert "main" in text  # the other section is left alone
    assert "Latest run (`pipe-service bench --owui`)" in text
    assert text.count("![bench-owui](bench-owui.png)") == 1
    assert text.endswith(f"{OWUI_END_MARKER}\nend\n")


def test_an_unknown_pipe_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--owui", "--owui-pipes", "shim,nope"]) == 2
    assert "pipes must be some of shim, passthrough" in capsys.readouterr().err


def test_a_missing_open_webui_venv_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--owui", "--quick", "--owui-venv", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert f"no Open WebUI venv at {tmp_path / 'none'}" in err
    assert "scripts/owui_venv.sh" in err
