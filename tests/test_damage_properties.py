"""Any damage to a results file or a side file: the reader says so in one line (exit 2) or reads it; never a crash.

Property-based (Hypothesis): truncation anywhere, flipped bytes, and a value of another
type at any place of the JSON. The reading path is the check's own (every night read,
the verdict file, the names file), run in-process through the tools' one exit-code gate.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import checksums
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lib import cli
from lib.nights import read_night
from lib.results import ResultsStore, dispatch_names, previous_suspects
from lib.suite import schema
from results_factory import write_run

BASE, NEW = "a" * 40, "b" * 40
WALLS = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
FIGURES = {"track_gpu_time_materialized": [1e-6] * 4, "track_aten_ops_causal_bias": [85.0] * 4}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("healthy") / "results"
    write_run(results, "box", BASE, 1_000, WALLS, figures=FIGURES, visits={(0, "materialized"): [2e-6, 3e-6]})
    write_run(results, "box", NEW, 2_000, WALLS, figures=FIGURES)
    night = results / "box" / f"{BASE}{schema.NIGHT_SUFFIX}"  # with a signal measured in part, to damage too
    night.write_text(json.dumps(json.loads(night.read_text()) | {schema.NIGHT_IN_PART: {
        "1, 4, (16, 48), 64, 'float32'": {"causal_bias": {schema.WALL: ["pass 2: building failed: OOM"]}}}}))
    (results / "box" / f"{BASE}.verdict").write_text(json.dumps({"contender": BASE, "suspects": []}))
    (results / "box" / f"{BASE}.dispatch").write_text(json.dumps({"1, 4, (16, 48), 64, 'float32'": {}}))
    return results


def read_everything(results: Path) -> int:
    """What the check reads of a machine, through the tools' gate: 0 read, 2 damaged input, 3 a crash."""
    def main(argv: list[str] | None) -> int:
        store = ResultsStore(results)
        for run in store.runs("box"):
            read_night(store, run)
            store.night_visits(run)
            previous_suspects(store, "box", run.commit_hash)
            dispatch_names(store, "box", run.commit_hash)
        return 0

    return cli.run_tool(main)


TARGETS = ["run", "benchmarks.json", "verdict", "dispatch", "night"]


def target_path(results: Path, which: str) -> Path:
    box = results / "box"
    return {"run": next(box.glob("aaaaaaaa-*.json")), "benchmarks.json": results / "benchmarks.json",
            "verdict": box / f"{BASE}.verdict", "dispatch": box / f"{BASE}.dispatch",
            "night": box / f"{BASE}.night"}[which]


def damaged_read(healthy: Path, which: str, damage) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results"
        shutil.copytree(healthy, results)
        path = target_path(results, which)
        path.write_bytes(damage(path.read_bytes()))
        others = {name: digest for name, digest in checksums(results).items()
                  if name != str(path.relative_to(results))}
        code = read_everything(results)
        assert code in (cli.SUCCESS, cli.USER_ERROR), code
        assert {name: digest for name, digest in checksums(results).items() if name in others} == others


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(which=st.sampled_from(TARGETS), fraction=st.floats(0.0, 1.0))
def test_a_file_cut_anywhere_is_read_or_refused_in_one_line(healthy, capsys, which, fraction):
    damaged_read(healthy, which, lambda data: data[: int(len(data) * fraction)])
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "Traceback" not in err


@FAST
@given(which=st.sampled_from(TARGETS), flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)),
                                                     min_size=1, max_size=8))
def test_flipped_bytes_are_read_or_refused_in_one_line(healthy, capsys, which, flips):
    def flip(data: bytes) -> bytes:
        changed = bytearray(data)
        for where, value in flips:
            if changed:
                changed[min(int(where * len(changed)), len(changed) - 1)] = value
        return bytes(changed)

    damaged_read(healthy, which, flip)
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "Traceback" not in err


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                        st.text(max_size=8), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def replace_somewhere(document, path: list[float], value):
    """``document`` with the node that ``path`` leads to (a fraction a level) replaced by ``value``."""
    if not path or not isinstance(document, (dict, list)) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[min(int(path[0] * len(keys)), len(keys) - 1)]
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = replace_somewhere(document[key], path[1:], value)
    return copy


@FAST
@given(which=st.sampled_from(TARGETS), path=st.lists(st.floats(0.0, 0.999), max_size=5), value=JSON_VALUES)
def test_a_value_of_another_type_anywhere_is_read_or_refused_in_one_line(healthy, capsys, which, path, value):
    damaged_read(healthy, which, lambda data: json.dumps(replace_somewhere(json.loads(data), path, value)).encode())
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "Traceback" not in err


@pytest.mark.parametrize("which", TARGETS)
def test_the_properties_are_not_vacuous_a_file_cut_in_half_is_refused(healthy, capsys, which):
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results"
        shutil.copytree(healthy, results)
        path = target_path(results, which)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        assert read_everything(results) == cli.USER_ERROR
    assert capsys.readouterr().err.startswith("error: ")
