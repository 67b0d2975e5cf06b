"""`make mutation`'s set-up (tests/mutation/run.py) without running it: the target, each module's scope
and fast tests, and which mutants count. The run itself takes minutes a module: not part of `make test`."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("mutation_run", REPO_ROOT / "tests" / "mutation" / "run.py")
assert SPEC and SPEC.loader
run = importlib.util.module_from_spec(SPEC)
sys.modules["mutation_run"] = run  # dataclasses look their module up there
SPEC.loader.exec_module(run)


def test_make_mutation_runs_the_driver_and_make_test_does_not():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^mutation: .*\n\t\$\(VPY\) tests/mutation/run\.py \$\(MODULES\)$", makefile, re.M)
    test_recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert test_recipe and "mutation" not in test_recipe.group(1)
    assert "cosmic-ray==8.7.0" in (REPO_ROOT / "tests" / "mutation" / "requirements.txt").read_text().split("\n")


def test_every_modules_scope_names_what_it_defines_and_its_tests_exist():
    assert set(run.MODULES) == {"noise", "verdict", "remeasure", "findings", "nights", "results", "rows",
                                 "injected_steps"}
    for scope in run.MODULES.values():
        included, _ = run.out_of_scope((REPO_ROOT / scope.path).read_text(), scope)
        assert len(included) == len(scope.names or [None])
        assert all((REPO_ROOT / test).is_file() for test in scope.tests)


SOURCE = '''from __future__ import annotations


def f(x: int | None, y=1 + 2) -> dict[str, int] | None:
    z: int | None = x or y
    return {"a": z - 1}


class C:
    n: float | None = 0.5

    def g(self) -> int:
        return 3 * 4
'''


def test_annotations_are_never_mutated_the_code_around_them_is():
    spans = run.annotations(ast.parse(SOURCE))
    lines = SOURCE.splitlines()

    def at(line: int, text: str) -> tuple[int, int]:
        return line, lines[line - 1].index(text)

    for position in (at(4, "int | None"), at(4, "| None"), at(4, "dict"), at(4, "] | None"), at(5, "int | None"),
                     at(10, "float | None"), at(12, "int:")):
        assert run.within(position, spans), position
    for position in (at(4, "1 + 2"), at(4, "+ 2"), at(5, "x or y"), at(6, "- 1"), at(10, "0.5"), at(13, "3 * 4")):
        assert not run.within(position, spans), position


def test_a_scope_of_names_covers_their_bodies_only():
    tree = ast.parse(SOURCE)
    assert run.definitions(tree) == {"f": (4, 0, 6, 23), "C": (9, 0, 13, 20), "C.g": (12, 4, 13, 20)}
    scope = run.Scope("x.py", (), ("C.g",))
    included, _ = run.out_of_scope(SOURCE, scope)
    assert included == [(12, 4, 13, 20)]
    assert run.within((13, 15), included) and not run.within((6, 15), included) and not run.within((10, 20), included)
    assert run.out_of_scope(SOURCE, run.Scope("x.py", ()))[0] == [run.WHOLE]
