"""`python -m bench.run --quick` end to end on CPU with tiny counts: random-weight MODNet, a real
server process, every table and the JSON produced with sane numbers. (Speed itself is measured by
the benchmark, not asserted here.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run

CONCURRENCIES = [1, 2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_cpu_run_prints_tables_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    argv = [
        "--quick", "--device", "cpu", "--out", str(out),
        "--batch-sizes", "1", "--model-iterations", "1", "--model-time-budget", "5",
        "--requests", "2", "--concurrency", ",".join(map(str, CONCURRENCIES)),
        "--size", "640x360", "--images", "2", "--warmup-requests", "1",
    ]  # fmt: skip
    returned = run.main(argv)
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    assert results == json.loads(json.dumps(returned))

    hw = results["hardware"]
    assert hw["cpu_cores"] >= 1 and hw["cpu_model"] and hw["torch"]
    assert results["hardware_label"] in printed

    model = {cell["mode"]: cell for cell in results["model"]}
    assert set(model) <= {"eager fp32", "eager bf16"} and "eager fp32" in model  # bf16: CPU-dependent
    for cell in model.values():
        assert (cell["device"], cell["batch_size"]) == ("cpu", 1)
        assert cell["skipped"] is None and cell["iterations"] >= 1
        assert cell["img_per_s"] == pytest.approx(1000.0 / cell["ms_per_batch"])
    assert "| eager fp32 | cpu" in printed

    cells = results["http"]["cells"]
    expected = {
        (o, f, c) for o, f in (("mask", "png"), ("rgba", "png"), ("rgba", "webp")) for c in CONCURRENCIES
    }
    assert {(c["output"], c["format"], c["concurrency"]) for c in cells} == expected
    for cell in cells:
        assert cell["requests"] == cell["ok"] == 2 and cell["errors"] == 0, cell
        assert 0 < cell["p50_ms"] <= cell["p95_ms"] <= cell["p99_ms"] <= cell["max_ms"]
        # Two requests take at least the slower one's latency: throughput cannot beat that.
        assert 0 < cell["req_per_s"] <= 2 / (cell["max_ms"] / 1000.0) * 1.05
        assert 1 <= cell["mean_batch_size"] <= cell["concurrency"]
    assert "| rgba webp | 2" in printed

    ratio = results["http"]["ratio"]
    assert ratio["concurrency"] == max(CONCURRENCIES) and ratio["output"] == "mask/png"
    assert ratio["unbatched"]["errors"] == 0 and ratio["unbatched"]["mean_batch_size"] == 1
    assert ratio["ratio"] == pytest.approx(ratio["batched_req_per_s"] / ratio["unbatched_req_per_s"])
    assert "vs max_batch_size=1" in printed
