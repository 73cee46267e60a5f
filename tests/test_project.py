"""Checks of the project itself: the two README commands, CI, packaging and the layers."""

import ast
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "eelswidgets"

# layer of each top-level part of the package (docs/design.md); lower numbers sit below
LAYERS = {
    "_checks": 0, "_version": 0, "_progress": 0, "_server_extension": 0, "preprocess": 0,
    "zlp_align": 0, "spikes": 0, "_limits": 0, "_safe_json": 0, "_lazy": 0, "_chunk_reader": 0,
    "spectrum_image": 1,
    "io": 2, "datasets": 2,
    "decomposition": 3, "patches": 3,
    "analysis": 4, "latent_structure": 4,
    "models": 5,
    "pipeline": 6,
    "plotting": 7, "widgets": 7,
}


def readme_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    cmds = readme_commands()
    assert len(cmds) == 2, cmds
    explore, test = cmds
    assert "\n" not in explore and "\n" not in test
    assert "jupyter lab" in explore and "notebooks/00_tour.ipynb" in explore
    for cmd in cmds:
        assert "torch==2.13.0" in cmd           # CPU wheel pinned in the set-up commands
    ci = [ln for ln in (ROOT / ".ci/run").read_text().splitlines()
          if ln.strip() and not ln.startswith(("#", "set ", "cd "))]
    assert ci == [test]


def test_pyproject_keeps_a_normal_torch_range():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    torch = [d for d in deps if d.startswith("torch")]
    assert torch == ["torch>=2.2"]
    assert {"io", "test", "dev"} <= set(meta["project"]["optional-dependencies"])
    assert (ROOT / "eelswidgets" / "static").is_dir()


def _top_part(module_path: Path) -> str:
    rel = module_path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _module_level_imports(path: Path):
    """Package-internal imports at module level (function-level lazy imports are excluded)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                # resolve the relative import against the module's package
                base = list(path.relative_to(PKG).parts[:-1])
                up = node.level - 1
                base = base[: len(base) - up] if up else base
                target = [*base, *(node.module.split(".") if node.module else [])]
                if not target:      # "from . import x": x is a part
                    yield from (a.name for a in node.names)
                else:
                    yield target[0]
            elif node.module and node.module.startswith("eelswidgets."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("eelswidgets."):
                    yield a.name.split(".")[1]


@pytest.mark.parametrize("path", sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py"
                                        or p.parent != PKG), ids=lambda p: str(p.relative_to(PKG)))
def test_no_upward_imports(path):
    me = _top_part(path)
    assert me in LAYERS, f"{me} has no layer: add it to LAYERS and docs/design.md"
    for target in _module_level_imports(path):
        target = target.removesuffix(".py")
        if target in LAYERS:
            assert LAYERS[target] <= LAYERS[me], f"{me} (layer {LAYERS[me]}) imports {target}"


def test_design_doc_lists_every_layer():
    design = (ROOT / "docs" / "design.md").read_text()
    for part in LAYERS:
        if not part.startswith("_"):
            assert part in design, f"docs/design.md does not mention {part}"
