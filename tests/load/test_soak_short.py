"""A short soak (the full one is `python -m bench.soak`, 10,000 requests): 500 requests at
concurrency 64 across every output against a real uvicorn process; no errors, memory steady."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import soak


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_short_soak_has_no_errors_and_steady_memory(tmp_path: Path) -> None:
    args = soak.parse_args(
        ["--requests", "500", "--warmup", "100", "--concurrency", "64", "--time-limit", "60"]
    )
    result = soak.soak(args, tmp_path, log=lambda _: None)
    assert result["requests"] == 500 and result["complete"]
    assert result["errors"] == 0, result["error_details"]
    assert result["server_alive_at_end"]
    # 500 requests are too few for the 5 % criterion of the full soak (allocator noise is a few
    # MiB); this catches gross per-request leaks (e.g. 100 KiB per request would add ~50 MiB).
    assert result["rss_growth_pct"] < 20.0, result
