"""Targets and the markdown table of ``bench_scale.py`` (from its JSON cases)."""

from __future__ import annotations

import json
from pathlib import Path

from _scale_steps import CHAIN_STEPS, LIBS, STEPS

# (name, steps of eelswidgets in memory, largest extra peak memory / cube bytes)
MEMORY_TARGETS = (("load", ("load_npz", "load_h5", "load_zarr"), 1.1),
                  ("construction", ("construct",), 0.1),
                  ("background", ("preprocess",), 2.0),
                  ("pca", ("pca",), 1.2),
                  ("nmf", ("nmf",), 1.5),
                  ("vae_fit", ("vae_fit",), 1.2),
                  ("encode", ("encode",), 1.2))
CPU_TARGETS = ("pca", "nmf")          # eelswidgets' CPU time <= HyperSpy's (eager, same data)
CHAIN_PEAK_BYTES = 3e9                # the lazy chain's peak RSS (3 GB)
COLUMNS = {"ew": "eelswidgets", "ew_lazy": "eelswidgets lazy", "hs": "HyperSpy 2.5",
           "hs_lazy": "HyperSpy lazy"}


def _index(cases) -> dict:
    return {(c["size"], c["lib"], c["step"], c.get("chain", False)): c for c in cases}


def _ok(case) -> bool:
    return case is not None and case.get("status") == "ok"


def targets(cases) -> list[dict]:
    """Pass/fail of every target of the issue that the cases cover, per size."""
    idx = _index(cases)
    sizes = sorted({c["size"] for c in cases if not c.get("chain")}, key=_size_key)
    out = []
    for size in sizes:
        for name, steps, limit in MEMORY_TARGETS:
            got = [idx.get((size, "ew", s, False)) for s in steps]
            if not any(g is not None for g in got):
                continue
            done = [g for g in got if _ok(g)]
            value = max((g["peak_over_cube"] for g in done), default=None)
            out.append({"target": f"{name} memory <= {limit}x cube", "size": size,
                        "value": value, "limit": limit,
                        "pass": bool(value is not None and len(done) == len(
                            [g for g in got if g is not None]) and value <= limit)})
        for step in CPU_TARGETS:
            ew, hs = idx.get((size, "ew", step, False)), idx.get((size, "hs", step, False))
            if ew is None and hs is None:
                continue
            ratio = ew["cpu_s"] / hs["cpu_s"] if _ok(ew) and _ok(hs) else None
            out.append({"target": f"{step} CPU <= HyperSpy's", "size": size, "value": ratio,
                        "limit": 1.0, "pass": bool(ratio is not None and ratio <= 1.0)})
    for size in sorted({c["size"] for c in cases if c.get("chain")}, key=_size_key):
        chain = [idx.get((size, "ew_lazy", s, True)) for s in CHAIN_STEPS]
        done = [c for c in chain if _ok(c)]
        peak = max((c["peak_rss_bytes"] for c in done), default=None)
        out.append({"target": "lazy chain peak RSS <= 3 GB", "size": size,
                    "value": None if peak is None else peak / 1e9, "limit": CHAIN_PEAK_BYTES / 1e9,
                    "steps_done": len(done), "steps": len(chain),
                    "pass": bool(len(done) == len(chain) and peak <= CHAIN_PEAK_BYTES)})
    return out


def ratios(cases) -> list[dict]:
    """eelswidgets / HyperSpy ratios of memory multiple and CPU time (eager/eager, lazy/lazy)."""
    idx = _index(cases)
    out = []
    for (size, lib, step, chain), ew in idx.items():
        if not lib.startswith("ew") or not _ok(ew):
            continue
        hs = idx.get((size, lib.replace("ew", "hs"), step, chain))
        if not _ok(hs):
            continue
        out.append({"size": size, "step": step, "chain": chain,
                    "pair": "lazy" if lib.endswith("lazy") else "in memory",
                    "memory": _div(ew["peak_extra_bytes"], hs["peak_extra_bytes"]),
                    "cpu": _div(ew["cpu_s"], hs["cpu_s"]),
                    "wall": _div(ew["wall_s"], hs["wall_s"])})
    return out


def _div(a, b):
    return None if not b else a / b


def _size_key(label: str):
    return tuple(int(n) for n in label.split("x"))


def _cell(case, chain: bool = False) -> str:
    if case is None:
        return "-"
    if case["status"] != "ok":
        return f"{case['status']}: {case.get('reason', '')}".replace("|", "/")
    mem = (f"{case['peak_rss_bytes'] / 1e9:.2f} GB peak" if chain
           else f"{case['peak_over_cube']:.2f}x")
    return f"{mem}; {case['wall_s']:.2f} s (CPU {case['cpu_s']:.2f} s)"


def _ratio_cell(ew, hs, key: str = "peak_extra_bytes") -> str:
    if not (_ok(ew) and _ok(hs)):
        return "-"
    mem = _div(ew[key], hs[key])
    return (f"mem {'-' if mem is None else f'{mem:.2f}'}x, "
            f"CPU {ew['cpu_s'] / max(hs['cpu_s'], 1e-9):.2f}x")


def markdown(cases, target_rows=None) -> str:
    """The issue note's tables: rows step x size, one column per library, plus the targets."""
    idx = _index(cases)
    lines = []
    for size in sorted({c["size"] for c in cases if not c.get("chain")}, key=_size_key):
        gib = next(c["cube_bytes"] for c in cases if c["size"] == size) / 2**30
        lines += ["", f"**{size} float32 ({gib:.2f} GiB)**: extra peak RSS / cube bytes; wall "
                  "(CPU) time", "",
                  "| step | " + " | ".join(COLUMNS[lib] for lib in LIBS)
                  + " | ew / HS (in memory) | ew / HS (lazy) |",
                  "|---" * (len(LIBS) + 3) + "|"]
        for step in STEPS:
            row = [idx.get((size, lib, step, False)) for lib in LIBS]
            if all(c is None for c in row):
                continue
            lines.append(f"| {step} | " + " | ".join(_cell(c) for c in row)
                         + f" | {_ratio_cell(row[0], row[2])} | {_ratio_cell(row[1], row[3])} |")
    for size in sorted({c["size"] for c in cases if c.get("chain")}, key=_size_key):
        lines += ["", f"**lazy chain, {size} float32**: peak RSS of the process; wall (CPU) time",
                  "", "| step | eelswidgets lazy | HyperSpy lazy | ew / HS (peak RSS, CPU) |",
                  "|---|---|---|---|"]
        for step in CHAIN_STEPS:
            ew, hs = (idx.get((size, lib, step, True)) for lib in ("ew_lazy", "hs_lazy"))
            if ew is None and hs is None:
                continue
            lines.append(f"| {step} | {_cell(ew, True)} | {_cell(hs, True)} | "
                         f"{_ratio_cell(ew, hs, 'peak_rss_bytes')} |")
    rows = targets(cases) if target_rows is None else target_rows
    if rows:
        lines += ["", "| target | size | value | pass |", "|---|---|---|---|"]
        for t in rows:
            value = "-" if t["value"] is None else f"{t['value']:.2f}"
            lines.append(f"| {t['target']} | {t['size']} | {value} | "
                         f"{'pass' if t['pass'] else 'FAIL'} |")
    return "\n".join(lines).lstrip("\n")


def read_cases(path: Path) -> list[dict]:
    """Cases from a ``bench_scale.py`` JSON output or a JSON-lines log (later lines win)."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "cases" in data:
        return data["cases"]
    cases = [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(_index(cases).values())
