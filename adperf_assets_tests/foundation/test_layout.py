"""The layout the code lives by: public import paths that earlier work documented, plain math packages
that know nothing of Dagster, every definition under defs/, small modules."""

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "adperf_assets"
PURE = ("ltv", "credit", "normalize", "report", "sample")


@pytest.mark.parametrize("path, name", [
    ("adperf_assets.ltv.retention", "ShiftedBetaGeometric"),
    ("adperf_assets.ltv.cohort", "cohort_ltv"),
    ("adperf_assets.ltv.btyd", "fit_btyd"),
    ("adperf_assets.credit", "credit_revenue"),
    ("adperf_assets.sample", "generate_world"),
    ("adperf_assets.definitions", "defs"),
])
def test_documented_import_paths(path, name):
    assert getattr(importlib.import_module(path), name) is not None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_math_packages_know_nothing_of_dagster():
    offenders = [f"{p.relative_to(PACKAGE)}: {m}" for pkg in PURE for p in sorted((PACKAGE / pkg).rglob("*.py"))
                 for m in _imports(p) if m.split(".")[0].startswith("dagster") or m.startswith("adperf_assets.defs")]
    assert offenders == []


def test_definitions_live_under_defs():
    """Only defs/ (and the entry points around it) import Dagster."""
    allowed = {"definitions.py", "partitions.py", "executors.py"}
    outside = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if p.relative_to(PACKAGE).parts[0] != "defs" and p.name not in allowed
               and any(m.split(".")[0] == "dagster" for m in _imports(p))]
    assert outside == []


def test_modules_stay_small():
    big = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}
