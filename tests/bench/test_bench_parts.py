"""The benchmark's pure parts: quantiles, result accounting, /proc readers, options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipe_service.bench.plan import LEAD_DELTAS, SCENARIOS, Scenario, quick_plan
from pipe_service.bench.proc_stats import cpu_seconds, rss_bytes
from pipe_service.bench.results import PathResult, percentile
from pipe_service.bench.streams import StreamSample
from pipe_service.cli import _parser, main
from pipe_service.simulator.standalone import config_from_args


def _sample(text: str = "abc", first: float = 0.1, total: float = 0.5) -> StreamSample:
    return StreamSample(first_text_s=first, total_s=total, text_events=3, text=text)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([7.0], 99) == 7.0


def test_path_result_counts_wrong_text_and_unfinished_streams_as_errors() -> None:
    samples = [_sample(), _sample(text="abX"), StreamSample(None, None, 0, "", "HTTP 503")]

    result = PathResult.of(
        samples, expected_streams=4, reference_text="abc", deltas_per_stream=10, wall_s=2.0
    )

    assert result.error_kinds == {"content mismatch": 1, "HTTP 503": 1, "unfinished": 1}
    assert (result.errors, result.ok_streams) == (3, 1)
    assert (result.upstream_deltas, result.deltas_per_s) == (10, 5.0)


def test_path_result_summarises_only_good_streams() -> None:
    samples = [_sample(first=0.1), _sample(first=0.3), _sample(text="bad", first=9.0)]

    result = PathResult.of(
        samples, expected_streams=3, reference_text="abc", deltas_per_stream=3, wall_s=1.0
    )

    assert result.first_text is not None
    assert (result.first_text.n, result.first_text.max) == (2, 0.3)


def test_proc_readers_see_this_process() -> None:
    pid = os.getpid()

    assert cpu_seconds(pid) > 0
    assert rss_bytes(pid) > 2**20


def test_scenario_turns_deltas_into_simulator_flags() -> None:
    scenario = Scenario("x", first_token_delay_s=0.2, inter_delta_delay_s=0.02, deltas=100)

    assert scenario.answer_words == 100 - LEAD_DELTAS
    assert scenario.simulator_args() == [
        "--first-token-delay",
        "0.2",
        "--inter-delta-delay",
        "0.02",
        "--answer-words",
        "97",
        "--words-per-delta",
        "1",
    ]


def test_default_scenarios_are_the_documented_pacings() -> None:
    paced, burst = SCENARIOS["paced"], SCENARIOS["burst"]

    assert (paced.first_token_delay_s, paced.inter_delta_delay_s, paced.deltas) == (0.2, 0.02, 100)
    assert (burst.first_token_delay_s, burst.inter_delta_delay_s, burst.deltas) == (0.0, 0.0, 200)


def test_quick_plan_is_tiny() -> None:
    plan = quick_plan()

    assert (plan.concurrency, plan.rounds) == ((1, 2), 1)


def test_simulator_command_takes_pacing_flags() -> None:
    pacing = ["--first-token-delay", "0.2", "--inter-delta-delay", "0.02"]
    size = ["--answer-words", "97", "--words-per-delta", "2"]
    args = _parser().parse_args(["simulator", *pacing, *size])

    config = config_from_args(args)

    assert (config.first_token_delay_s, config.inter_delta_delay_s) == (0.2, 0.02)
    assert (config.answer_words, config.words_per_delta) == (97, 2)


def test_bench_rejects_a_zero_concurrency(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--concurrency", "1,0"])

    assert exit_info.value.code == 2
    assert "positive integers" in capsys.readouterr().err


def test_bench_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--scenarios", "nope"]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err


def test_bench_rejects_a_setting_without_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--set", "streaming.flush_interval_s"]) == 2
    assert "SETTING=VALUE" in capsys.readouterr().err


def test_json_without_a_path_means_print_it_to_stdout() -> None:
    assert _parser().parse_args(["bench", "--quick", "--json"]).json == Path("-")
    assert _parser().parse_args(["bench", "--json", "r.json"]).json == Path("r.json")


def test_tree_cpu_counts_a_child_process() -> None:
    import subprocess
    import sys

    from pipe_service.bench.proc_stats import tree_cpu_seconds

    # The child spends CPU, then stays alive (sleeping) while it is counted.
    code = "import time\nsum(range(3 * 10**7))\nprint(flush=True)\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        spent = cpu_seconds(child.pid)
        assert spent > 0
        own = cpu_seconds(os.getpid())
        assert tree_cpu_seconds(os.getpid()) >= own + spent
    finally:
        child.kill()
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()


def test_charts_and_docs_section_are_written_from_a_report(tmp_path: Path) -> None:
    from pipe_service.bench.charts import END_MARKER, START_MARKER, update_docs, write_charts
    from pipe_service.bench.results import BenchReport, LevelResult, Machine, SidecarCost

    samples = [_sample(first=0.1, total=0.5), _sample(first=0.2, total=0.6)]
    path = PathResult.of(
        samples, expected_streams=2, reference_text="abc", deltas_per_stream=3, wall_s=1.0
    )
    cost = SidecarCost(0.01, 2, 6, 6, 50 * 2**20, 60 * 2**20, 2)
    level = LevelResult("paced", 2, 1, 3, path, path, cost, responses=path, responses_cost=cost)
    report = BenchReport(Machine(2, "cpu", "3.11", (1.0, 1.0, 1.0)), {}, levels=[level])
    directory = tmp_path
    doc = directory / "benchmarks.md"
    doc.write_text(f"intro `{START_MARKER}`\n{START_MARKER}\nold\n{END_MARKER}\noutro\n")

    charts = write_charts(report, directory)
    update_docs(doc, report, charts, "pipe-service bench")
    update_docs(doc, report, charts, "pipe-service bench")  # a second run replaces the first

    text = doc.read_text()
    assert [chart.name for chart in charts] == ["bench-paced.png"]
    assert charts[0].read_bytes().startswith(b"\x89PNG")
    assert "old" not in text
    assert text.startswith("intro")
    assert text.endswith("outro\n")
    assert text.count("![bench-paced](bench-paced.png)") == 1


def test_docs_markers_with_nothing_between_them_are_filled(tmp_path: Path) -> None:
    from pipe_service.bench.charts import END_MARKER, START_MARKER, update_docs
    from pipe_service.bench.results import BenchReport, Machine

    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"intro\n\n{START_MARKER}\n{END_MARKER}\n\noutro\n")

    update_docs(doc, BenchReport(Machine(2, "cpu", "3.11", (1.0, 1.0, 1.0)), {}), [], "bench")

    lines = doc.read_text().splitlines()
    assert lines[2] == START_MARKER
    assert lines[3].startswith("Latest full run (`bench`)")
    assert lines[-3] == END_MARKER
    assert lines[-1] == "outro"
