"""The scale benchmark's harness: sizes, the memory guard, targets, the table, and a tiny run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_scale  # noqa: E402
from _scale_report import markdown, read_cases, targets  # noqa: E402


def _case(step, lib="ew", peak=1.0, cpu=1.0, size="64x64x1024", **extra):
    cube = 64 * 64 * 1024 * 4
    return {"size": size, "shape": [64, 64, 1024], "cube_bytes": cube, "lib": lib,
            "step": step, "chain": False, "status": "ok", "peak_extra_bytes": peak * cube,
            "peak_over_cube": peak, "peak_rss_bytes": 5e8 + peak * cube, "wall_s": cpu,
            "cpu_s": cpu, **extra}


def test_sizes_parse_and_bad_sizes_are_refused():
    assert bench_scale.parse_size("512") == (512, 512, 1024)
    assert bench_scale.parse_size("512x4096") == (512, 512, 4096)
    assert bench_scale.parse_size("4x8x16") == (4, 8, 16)
    for bad in ("", "0", "ax3", "1x2x3x4"):
        with pytest.raises(Exception, match="size"):
            bench_scale.parse_size(bad)


def test_targets_pass_and_fail_on_the_issue_limits():
    cases = [_case("load_npz", peak=1.05), _case("load_h5", peak=1.3),
             _case("construct", peak=0.0), _case("pca", peak=1.1, cpu=3.0),
             _case("pca", lib="hs", peak=0.2, cpu=2.0), _case("nmf", peak=1.6, cpu=1.0),
             _case("nmf", lib="hs", peak=2.0, cpu=4.0)]
    got = {t["target"]: t for t in targets(cases)}
    assert got["load memory <= 1.1x cube"]["value"] == pytest.approx(1.3)   # the worst format
    assert not got["load memory <= 1.1x cube"]["pass"]
    assert got["construction memory <= 0.1x cube"]["pass"]
    assert got["pca memory <= 1.2x cube"]["pass"]
    assert not got["nmf memory <= 1.5x cube"]["pass"]
    assert got["pca CPU <= HyperSpy's"]["value"] == pytest.approx(1.5)
    assert not got["pca CPU <= HyperSpy's"]["pass"]
    assert got["nmf CPU <= HyperSpy's"]["pass"]


def test_a_failed_or_missing_case_never_passes_a_target():
    killed = {**_case("pca"), "status": "killed", "reason": "passed the 8.0 GB limit"}
    chain = [{**_case(s, lib="ew_lazy", size="8x8x2048"), "chain": True}
             for s in ("load", "zlp")]
    got = {t["target"]: t for t in targets([killed, *chain])}
    assert not got["pca memory <= 1.2x cube"]["pass"]
    assert not got["lazy chain peak RSS <= 3 GB"]["pass"]         # steps missing
    table = markdown([killed, *chain])
    assert "| pca | killed: passed the 8.0 GB limit |" in table
    assert "lazy chain, 8x8x2048" in table


def test_a_case_over_the_memory_limit_is_killed_not_run_to_the_end():
    grow = "import time; a = bytearray(400_000_000); time.sleep(30)"
    result, why, _ = bench_scale._watch([sys.executable, "-c", grow], 100e6, 60)
    assert result is None and why.startswith("killed")
    _, why, _ = bench_scale._watch([sys.executable, "-c", "import time; time.sleep(30)"],
                                   1e9, 0.5)
    assert why.startswith("timeout")


def test_a_case_that_cannot_fit_is_skipped_with_its_need(tmp_path):
    args = bench_scale._parse(["--max-gb", "2"])
    case = bench_scale.run_case(tmp_path, (1024, 1024, 1024), "ew", "pca", False, args)
    assert case["status"] == "skipped" and "needs about" in case["reason"]
    assert not any(tmp_path.iterdir())                    # nothing was started


def test_tiny_run_reports_memory_time_and_targets(tmp_path):
    log = tmp_path / "scale.jsonl"
    cmd = [sys.executable, str(BENCH / "bench_scale.py"), "--sizes", "16x64", "--libs", "ew",
           "--steps", "construct", "--data-dir", str(tmp_path / "data"),
           "--log", str(log), "--out", str(tmp_path / "scale.json")]
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    by_step = {c["step"]: c for c in result["cases"]}
    assert set(by_step) == {"construct"}
    for case in by_step.values():
        assert case["status"] == "ok" and case["cube_bytes"] == 16 * 16 * 64 * 4
        assert case["wall_s"] > 0 and case["cpu_s"] >= 0 and case["peak_rss_bytes"] > 0
    assert {t["target"] for t in result["targets"]} >= {"construction memory <= 0.1x cube"}
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
    assert len(read_cases(log)) == 1
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and len(log.read_text().splitlines()) == 1   # resumed
