"""lib.results' checks by unit: each thing the reader refuses, and what it lets through, with the exact
message. In-process and fast: `make mutation` runs these against every mutant of the reader's checks."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from lib import results, rows
from lib.cli import ToolError
from lib.results import ResultsStore, RunFile
from lib.suite import schema
from results_factory import CPU, SMALL_PARAMS, write_benchmarks_json, write_run

NIGHT = "attention_bias.AttentionBiasNightCPU"
TIMED = "attention_bias.AttentionBiasCPU"
WALLS = {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0], "track_wall_time_causal_bias": [1.0, 2.0, 3.0, 4.0]}


# ---------------------------------------------------------------- damaged files, impossible values


class FakeResults:
    """asv's Results as damaged asks it: one benchmark's parameters and values (``before``: benchmarks before it,
    with the parameters and the values they are given)."""

    def __init__(self, name: str, values: list, params: list | None = None, before: dict | None = None) -> None:
        self.name, self.values, self.params = name, values, [["1", "2"], ["a"]] if params is None else params
        self._results = {**(before or {}), name: values}  # the lists as stored (lib.results.stored_values)

    def get_all_result_keys(self) -> list[str]:
        return list(self._results)

    def get_result_params(self, name: str) -> list:
        return self.params

    def get_result_value(self, name: str, params: list) -> list:
        return self.values


def damaged(name: str, values: list, params: list | None = None) -> str | None:
    return results.damaged(FakeResults(name, values, params))  # type: ignore[arg-type]


# (method, must be positive, lower is better): durations and sizes are positive and better lower; counts
# and codes may be zero (not a CUDA forward's kernels) and have no better direction (a count's change is judged
# by the verdict itself).
# A name with its parameters, as asv's pages give it, is asked only which way is better (None).
FIGURE_RULES = [
    (f"{TIMED}.time_materialized", True, True),
    (f"{TIMED}.time_causal_bias(1, 4)", None, True),
    (f"{NIGHT}.track_wall_time_causal_bias", True, True),
    (f"{NIGHT}.track_gpu_time_materialized", True, True),
    (f"{NIGHT}.track_gpu_time_causal_bias(1, 4)", None, True),
    (f"{NIGHT}.track_peak_memory_materialized", True, True),
    (f"{NIGHT}.track_aten_ops_materialized", False, False),
    (f"{NIGHT}.track_sdpa_backend_materialized", False, False),
    (f"{NIGHT}.track_unknown_materialized", False, False),
    ("time_materialized.track_aten_ops_materialized", False, False),  # the method decides, not the class
    ("time_x.track_kernels_materialized", True, False),  # a CUDA forward launches kernels; a count
]


@pytest.mark.parametrize("name, positive, lower", FIGURE_RULES)
def test_durations_and_sizes_are_positive_and_better_lower_counts_and_codes_neither(
        name: str, positive: bool | None, lower: bool) -> None:
    if positive is not None:
        assert results.must_be_positive(name) is positive
    assert results.lower_is_better(name) is lower


def test_a_zero_time_is_impossible_a_zero_count_is_not():
    name = f"{NIGHT}.track_wall_time_materialized"
    assert results.impossible(name, 0.0) and results.impossible(name, 0)
    assert not results.impossible(f"{NIGHT}.track_aten_ops_materialized", 0.0)
    assert not results.impossible(name, 5e-324)


def test_a_negative_value_is_impossible_for_any_figure():
    for method in ("AttentionBiasNightCPU.track_aten_ops_materialized", "AttentionBiasNight.track_syncs_causal_bias",
                   "AttentionBiasCPU.time_materialized"):
        name = f"attention_bias.{method}"
        assert results.impossible(name, -1) and results.impossible(name, -5e-324)
        assert not results.impossible(name, 1)


def test_an_impossible_number_leaves_the_file_readable():
    """A fault of one measurement (a profile that lost its records counted -1 syncs on an H200 night) is read
    as not measured (lib.rows), never as a damaged file that takes the night's other values with it."""
    assert damaged(f"{NIGHT}.track_syncs_causal_bias", [1, -1]) is None
    assert damaged(f"{NIGHT}.track_wall_time_materialized", [1.0, 0.0]) is None


def test_failed_and_skipped_values_stay():
    assert damaged(f"{TIMED}.time_materialized", [None, math.nan]) is None


@pytest.mark.parametrize("value", [math.inf, -math.inf, True, "1.0", [1.0]])
def test_a_non_number_or_infinite_value_is_named(value):
    name = f"{NIGHT}.track_aten_ops_materialized"
    assert damaged(name, [1.0, value]) == f"{name} has the value {value!r}"


def test_integers_are_numbers():
    assert damaged(f"{NIGHT}.track_aten_ops_materialized", [1, 2]) is None


def test_the_values_must_match_the_parameter_sets():
    name = f"{NIGHT}.track_aten_ops_materialized"
    assert damaged(name, [1.0]) == f"{name} has 1 values for 2 parameter sets"
    assert damaged(name, [1.0, 2.0, 3.0]) == f"{name} has 3 values for 2 parameter sets"
    assert damaged(name, [1.0] * 6, [["1", "2", "3"], ["a", "b"]]) is None
    assert damaged(name, [1.0], []) is None  # no parameters: one value
    assert damaged(name, [1.0, 2.0], []) == f"{name} has 2 values for 1 parameter sets"
    assert damaged(name, None) is None  # asv's every value missing (a failed build)
    failed_build = FakeResults(name, [1.0], before={f"{NIGHT}.track_kernels_materialized": None})
    assert results.damaged(failed_build) == f"{name} has 1 values for 2 parameter sets"  # type: ignore[arg-type]
    for params in ([["1", {"2": 3}]], [["1"], "a"], "1"):  # asv hashes each parameter set to map the values
        assert damaged(name, [1.0], params) == f"{name} has parameters that are not lists of names"


# ---------------------------------------------------------------- run files


def a_store(tmp_path: Path, walls: dict | None = None) -> tuple[ResultsStore, RunFile]:
    write_run(tmp_path / "results", "box", "a" * 40, 1_000, walls or WALLS)
    store = ResultsStore(tmp_path / "results")
    return store, store.runs("box")[0]


def test_a_store_reads_the_files_of_its_source_the_newest_of_each_commit(tmp_path, monkeypatch):
    """asv writes one file per commit and environment: a night, asv's time_* of its commit beside it (another
    environment), a commit recorded again with another Python, a damaged file of no source yet."""
    folder = tmp_path / "results"
    night = write_run(folder, "box", "a" * 40, 1_000, WALLS)
    timed = write_run(folder, "box", "a" * 40, 1_000, {"time_materialized": [1.0] * 4, "time_causal_bias": [1.0] * 4},
                      env_name="virtualenv-py3")
    first = write_run(folder, "box", "b" * 40, 2_000, WALLS, env_name="a-py")
    again = write_run(folder, "box", "b" * 40, 2_000, WALLS, env_name="b-py")
    damaged = write_run(folder, "box", "c" * 40, 3_000, {"time_materialized": [1.0] * 4})
    damaged.write_text(damaged.read_text().split('"results"')[0])  # its head reads; its body is cut off
    assert [run.path for run in ResultsStore(folder).runs("box")] == [night, again, damaged]
    assert [run.path for run in ResultsStore(folder, results.ASV).runs("box")] == [timed, damaged]
    assert [run.path for run in ResultsStore(folder, None).runs("box")] == [night, timed, first, again, damaged]
    assert ResultsStore(folder).choose_run("box", "a" * 8).path == night
    # A file that no longer reads once indexed (gone, or a disk error): kept, for its reader to say so.
    reads = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: (_ for _ in ()).throw(OSError(5, "I/O error"))
                        if path == timed else reads(path))
    assert timed in [run.path for run in ResultsStore(folder).runs("box")]
    monkeypatch.undo()
    # A body too deep to parse, under a head that reads: kept for its reader to set aside, never a crash here.
    deep = folder / "box" / "dddddddd-deep.json"
    deep.write_text('{"commit_hash": "' + "d" * 40 + '", "env_name": "x", "date": 4000, "results": ' + "[" * 100_000)
    assert ResultsStore(folder).runs("box")[-1].path == deep


def test_a_healthy_run_loads(tmp_path):
    store, run = a_store(tmp_path)
    loaded = store.load(run)
    assert loaded.get_result_value(f"{NIGHT}.track_wall_time_materialized", SMALL_PARAMS) == [1.0, 2.0, 3.0, 4.0]


def test_a_run_that_asv_cannot_parse_is_corrupt_in_one_line(tmp_path):
    store, run = a_store(tmp_path)
    run.path.write_text('{"commit_hash": "aaaa", "version": 2}')
    with pytest.raises(ToolError, match=rf"^corrupt results file {run.path}: \S.*$") as raised:
        run.load()
    assert "\n" not in str(raised.value)


def test_a_run_with_impossible_values_loads_and_reads_them_as_not_measured_naming_them(tmp_path):
    """A zero wall time, a count of -1: faults of one measurement each, listed; the other values stand. So is a
    figure that failed where its mask's wall time did not (a count the profiler lost); where the wall time
    failed or was impossible, its own line says so for the mask."""
    store, run = a_store(tmp_path, {**WALLS, "track_wall_time_materialized": [1.0, 0.0, 3.0, 4.0],
                                    "track_aten_ops_causal_bias": [85, 85, -1, 85],
                                    "track_python_calls_materialized": [40, None, 40, None]})
    table = rows.config_rows(run.load(), CPU, store.param_names(CPU))
    assert [row.walls["materialized"].value for row in table] == [1.0, None, 3.0, 4.0]
    assert [row.figure("aten_ops", "causal_bias") for row in table] == [85, 85, None, 85]
    assert list(rows.problem_rows(table)) == [
        f"materialized({table[1].label}): impossible value 0.0, read as not measured",
        f"track_aten_ops_causal_bias({table[2].label}): impossible value -1, read as not measured",
        f"track_python_calls_materialized({table[3].label}): failed"]


def test_a_run_whose_every_wall_time_is_impossible_has_no_results_of_that_grid(tmp_path):
    store, run = a_store(tmp_path, {"track_wall_time_materialized": [0.0, -1.0, None, 0.0],
                                    "track_wall_time_causal_bias": [-2.0, 0.0, 0.0, math.nan]})
    assert not rows.has_results(run.load(), CPU)
    store, run = a_store(tmp_path / "one", {"track_wall_time_materialized": [0.0, -1.0, None, 0.0],
                                            "track_wall_time_causal_bias": [-2.0, 0.0, 3e-3, math.nan]})
    assert rows.has_results(run.load(), CPU)


@pytest.mark.parametrize("dtype", ["'float16'", "'float64'"])  # sorting before and after the run's own
def test_a_run_of_another_grid_than_benchmarks_json_reads_by_its_own_parameters(tmp_path, dtype):
    """The grid changed since (asv rewrote benchmarks.json): an older night is read by the parameters it
    recorded, never called corrupt, so the configs both grids share stay comparable."""
    store, run = a_store(tmp_path)
    write_benchmarks_json(store.dir, CPU, [["1", "2"], ["4"], ["(16, 48)", "(1, 48)"], ["64"], [dtype]])
    table = rows.config_rows(store.load(run), CPU, store.param_names(CPU))
    assert [row.label for row in table] == [", ".join(c) for c in itertools.product(*SMALL_PARAMS)]


def test_a_benchmark_that_benchmarks_json_does_not_describe_loads(tmp_path):
    store, run = a_store(tmp_path)
    (store.dir / "benchmarks.json").write_text(json.dumps({"version": 2}))
    assert store.load(run).get_all_result_keys() is not None
    entry = {f"{NIGHT}.track_wall_time_materialized": {"name": "x"}, "version": 2}  # no params: not checked
    other = ResultsStore(store.dir)
    (store.dir / "benchmarks.json").write_text(json.dumps(entry))
    other.load(run)


# ---------------------------------------------------------------- benchmarks.json


def test_benchmarks_json_is_read_once(tmp_path):
    store, _ = a_store(tmp_path)
    first = store.benchmarks()
    (store.dir / "benchmarks.json").write_text("{broken")
    assert store.benchmarks() is first


@pytest.mark.parametrize("text", ["{broken", "[1, 2]", '{"a": 1, "version": 2}', '"text"'])
def test_a_damaged_benchmarks_json_is_refused_naming_it(tmp_path, text):
    store, _ = a_store(tmp_path)
    (store.dir / "benchmarks.json").write_text(text)
    path = store.dir / "benchmarks.json"
    with pytest.raises(ToolError) as raised:
        store.benchmarks()
    message = str(raised.value)
    if text == "{broken":
        assert message.startswith(f"cannot read {path}: ") and "\n" not in message
    else:
        assert message == f"corrupt {path}: not an object of benchmark entries"


def test_a_missing_benchmarks_json_cannot_be_read(tmp_path):
    (tmp_path / "results").mkdir()
    store = ResultsStore(tmp_path / "results")
    with pytest.raises(ToolError, match=rf"^cannot read {tmp_path / 'results' / 'benchmarks.json'}: "):
        store.benchmarks()


def test_the_version_entry_of_benchmarks_json_may_be_a_number(tmp_path):
    store, _ = a_store(tmp_path)
    assert store.benchmarks()["version"] == 2


def test_param_names_of_a_grid_from_either_of_its_classes(tmp_path):
    store, _ = a_store(tmp_path)
    assert store.param_names(CPU) == schema.PARAM_NAMES
    path = store.dir / "benchmarks.json"
    path.write_text(json.dumps({f"{TIMED}.time_materialized": {"param_names": schema.PARAM_NAMES}, "version": 2}))
    assert ResultsStore(store.dir).param_names(CPU) == schema.PARAM_NAMES


def test_param_names_missing_or_damaged_are_refused(tmp_path):
    store, _ = a_store(tmp_path)
    path = store.dir / "benchmarks.json"
    path.write_text(json.dumps({"other.C.time_x": {"param_names": ["a"]}, "version": 2}))
    with pytest.raises(ToolError) as raised:
        ResultsStore(store.dir).param_names(CPU)
    assert str(raised.value) == f"{path} does not describe AttentionBiasNightCPU or AttentionBiasCPU"
    for names in ("a", ["a", 1], None, schema.PARAM_NAMES[::-1], ["batch", *schema.PARAM_NAMES[1:]]):
        path.write_text(json.dumps({f"{NIGHT}.track_x": {"param_names": names}, "version": 2}))
        with pytest.raises(ToolError) as raised:
            ResultsStore(store.dir).param_names(CPU)
        assert str(raised.value) == (f"corrupt {path}: param_names of AttentionBiasNightCPU are not the suite's "
                                     "(batch_size, num_heads, seq_lens, embed_dim, dtype)")


# ---------------------------------------------------------------- asv's durations


def with_durations(run: RunFile, durations: list, setup: dict) -> None:
    data = json.loads(run.path.read_text())
    column = data["result_columns"].index("duration")
    for entry, seconds in zip(data["results"].values(), durations):
        if seconds != "short":
            entry.extend([None] * (column + 1 - len(entry)))
            entry[column] = seconds
    data["durations"] = setup
    run.path.write_text(json.dumps(data))


def test_the_runs_seconds_are_its_benchmarks_and_setup_caches(tmp_path):
    store, run = a_store(tmp_path)
    with_durations(run, [2.5, 1.5], {"setup_cache": 4.0})
    assert store.run_seconds(run) == 8.0
    with_durations(run, [2.5, None], {})
    assert store.run_seconds(run) == 2.5
    with_durations(run, [2.5, "short"], {})  # an entry without the column counts nothing
    assert store.run_seconds(run) == 2.5


def test_a_run_without_durations_has_none(tmp_path):
    store, run = a_store(tmp_path)
    assert store.run_seconds(run) is None
    with_durations(run, [0.0, None], {})
    assert store.run_seconds(run) is None


def test_damaged_durations_are_refused(tmp_path):
    store, run = a_store(tmp_path)
    with_durations(run, ["x", 1.0], {})
    with pytest.raises(ToolError, match=rf"^corrupt results file {run.path}: "):
        store.run_seconds(run)
    run.path.write_text('{"results": {}}')
    with pytest.raises(ToolError, match=rf"^corrupt results file {run.path}: "):
        store.run_seconds(run)


# ---------------------------------------------------------------- the night's visits


def night_file(run: RunFile, content) -> Path:
    path = run.path.parent / f"{run.commit_hash}.night"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_the_nights_visits_by_label_and_mask(tmp_path):
    store, run = a_store(tmp_path)
    assert store.night_visits(run) == {}
    visits = {"cfg": {"materialized": [1.0, 2], "causal_bias": [5e-324]}}
    builds = {"cfg": {"materialized": [3e-4, 2e-4, 2.5e-4]}}
    night_file(run, {"wall_visits": visits, "gpu_time_visits": builds})
    assert store.night_visits(run) == visits
    assert store.night_visits(run, "gpu") == builds
    # A CPU grid's night, or one recorded before the builds and clocks were kept: none of them; a wall time's
    # visits are in every night file.
    night_file(run, {"wall_visits": visits})
    assert store.night_visits(run, "gpu") == store.night_clocks(run) == {}
    night_file(run, {"gpu_time_visits": builds})
    with pytest.raises(ToolError, match="corrupt .*: 'wall_visits'"):
        store.night_visits(run)


def test_a_results_file_that_does_not_read_is_set_aside_and_named(tmp_path):
    """Its runs leave it out and name it; the newest run is not known then, and the damaged run's commit names
    its damage. Runs of one date (stand-in commits of one second) are read whole to order them."""
    walls = WALLS
    paths = [write_run(tmp_path / "results", "box", commit * 40, date, walls)
             for commit, date in (("a", 1_000), ("b", 2_000), ("c", 2_000), ("d", 3_000))]
    paths[0].write_text("")
    paths[2].write_text(paths[2].read_text()[:200])  # its head reads: set aside only where read whole
    store = ResultsStore(tmp_path / "results")
    assert [run.commit_hash[0] for run in store.runs("box")] == ["b", "d"]
    aside = store.set_aside("box")
    assert list(aside) == [paths[0], paths[2]]
    assert aside[paths[0]].line.startswith(f"set aside, not read: corrupt results file {paths[0]}: ")
    assert aside[paths[2]].line.startswith(f"set aside, not read: corrupt results file {paths[2]}: ")
    assert (aside[paths[0]].date, aside[paths[2]].date) == (None, 2_000)  # the head of the second read
    assert store.choose_run("box", "d").commit_hash == "d" * 40
    with pytest.raises(ToolError, match=rf"^corrupt results file {paths[0]}: "):
        store.choose_run("box", "aaaa")
    with pytest.raises(ToolError, match=rf"^which run of 'box' is the most recent is not known: corrupt results "
                                        rf"file {paths[0]}: .*; name the run's commit$"):
        store.choose_run("box", None)
    with pytest.raises(ToolError, match="^no run of commit 'e' on machine 'box'; recent: bbbbbbbb, dddddddd$"):
        store.choose_run("box", "e")
    with pytest.raises(ToolError, match=rf"^corrupt results file {paths[0]}: "):
        store.choose_run("box", "a" * 40)  # a full hash names the file by its first 8 digits
    paths[0].unlink()  # left: a damaged file whose head says it is older than the newest run
    assert ResultsStore(tmp_path / "results").choose_run("box", None).commit_hash == "d" * 40
    newest = write_run(tmp_path / "results", "box", "e" * 40, 3_000, WALLS)  # as new as d: either may be newest
    newest.write_text(newest.read_text()[:200])
    with pytest.raises(ToolError, match=rf"^which run of 'box' is the most recent is not known: corrupt results "
                                        rf"file {newest}: "):
        ResultsStore(tmp_path / "results").choose_run("box", None)
    healthy = ResultsStore(tmp_path / "results")
    paths[2].unlink()
    newest.unlink()
    assert healthy.set_aside("box") == {} and healthy.choose_run("box", None).commit_hash == "d" * 40


def test_the_newest_run_is_known_unless_a_damaged_file_may_be_newer(tmp_path):
    """A damaged file dated before the newest run leaves it the newest; two damaged files of one date after it
    (read whole, their heads say when) may be newer."""
    folder = tmp_path / "results"
    for commit, date in (("a", 1_000), ("b", 2_000), ("c", 3_000), ("d", 2_000)):
        write_run(folder, "box", commit * 40, date, WALLS)
    cut = next((folder / "box").glob("dddddddd-*.json"))
    cut.write_text(cut.read_text()[:200])
    assert ResultsStore(folder).choose_run("box", None).commit_hash == "c" * 40
    late = [write_run(folder, "box", commit * 40, 4_000, WALLS) for commit in "ef"]
    for path in late:
        path.write_text(path.read_text()[:200])
    with pytest.raises(ToolError, match=f"^which run of 'box' is the most recent is not known: corrupt results "
                                        f"file {late[0]}: "):
        ResultsStore(folder).choose_run("box", None)


def test_a_git_name_that_looks_like_a_hash_prefix_is_read_as_git_names_it(tmp_path, monkeypatch):
    """A tag or branch "0ead" or "fade" of the conf's repository, no run's prefix: the run of the commit git
    names; a name git resolves to itself (a full hash with no run) is no run. git's answer is a new string, as a
    process's is."""
    folder = tmp_path / "results"
    write_run(folder, "box", "a" * 40, 1_000, WALLS)
    names = {"0ead": "a" * 40, "fade": "a" * 40, "c" * 40: "c" * 40}
    monkeypatch.setattr(results, "_git_name", lambda name, conf_path=None: "".join(list(names[name]))
                        if name in names else None)
    store = ResultsStore(folder)
    assert store.choose_run("box", "0ead").commit_hash == "a" * 40
    assert store.choose_run("box", "fade").commit_hash == "a" * 40  # a name sorting after its commit's hash
    with pytest.raises(ToolError, match=f"^no run of commit '{'c' * 40}' on machine 'box'; recent: aaaaaaaa$"):
        store.choose_run("box", "c" * 40)


def test_a_machine_without_runs_of_the_stores_source_says_which(tmp_path):
    folder = tmp_path / "results"
    write_run(folder, "box", "a" * 40, 1_000, {"time_materialized": [1.0] * 4, "time_causal_bias": [1.0] * 4})
    with pytest.raises(ToolError, match=f"^machine 'box' has no recorded runs of the night in {folder}$"):
        ResultsStore(folder).choose_run("box", None)
    assert ResultsStore(folder, None).choose_run("box", None).commit_hash == "a" * 40


def test_a_run_is_chosen_by_its_prefix_the_newest_by_default(tmp_path):
    commits = [f"{index:02x}" + "e" * 38 for index in range(12)] + ["0a" + "f" * 38]
    for index, commit in enumerate(commits):
        write_run(tmp_path / "results", "box", commit, 1_000 + index, WALLS)
    store = ResultsStore(tmp_path / "results")
    assert store.choose_run("box", None).commit_hash == commits[-1]
    assert store.choose_run("box", "0b").commit_hash == commits[11]
    with pytest.raises(ToolError, match="^commit prefix '0a' is ambiguous on machine 'box'$"):
        store.choose_run("box", "0a")
    recent = ", ".join(commit[:8] for commit in commits[-10:])
    with pytest.raises(ToolError, match=rf"^no run of commit 'ff' on machine 'box'; recent: {recent}$"):
        store.choose_run("box", "ff")


def test_runs_of_one_date_are_ordered_by_when_they_ran(tmp_path):
    for commit, started in (("a", 5), ("b", 3)):
        path = write_run(tmp_path / "results", "box", commit * 40, 1_000, WALLS)
        data = json.loads(path.read_text())
        column = data["result_columns"].index("started_at")
        for entry in data["results"].values():
            entry[column] = started
        path.write_text(json.dumps(data))
    write_run(tmp_path / "results", "box", "c" * 40, 500, WALLS)
    runs = ResultsStore(tmp_path / "results").runs("box")
    assert [(run.commit_hash[0], run.started) for run in runs] == [("c", 0), ("b", 3), ("a", 5)]


def test_a_night_file_whose_visits_are_not_the_runs_values_is_another_runs_and_not_read(tmp_path):
    """A plain `asv run` of the night class over a recorded commit replaces its values and leaves the night file
    of the run before: each wall time must be the fastest of its visits, exactly, or no figure of the file is the
    run's (visits, builds, clocks, what was measured in part, the torch)."""
    store, run = a_store(tmp_path)  # config (1, 4, (16, 48)) materialized: 1.0
    label = "1, 4, (16, 48), 64, 'float32'"
    mine = {"wall_visits": {label: {"materialized": [1.5, 1.0]}}, "gpu_time_visits": {label: {"materialized": [2.0]}},
            schema.NIGHT_TORCH: "a" * 40}
    night_file(run, mine)
    assert store.night_visits(run) == mine["wall_visits"] and store.night_torch(run) == "a" * 40
    assert store.others_nights() == []
    store = ResultsStore(tmp_path / "results")
    path = night_file(run, {**mine, "wall_visits": {label: {"materialized": [1.5, 1.25]}}})
    assert store.night_visits(run) == store.night_visits(run, "gpu") == store.night_clocks(run) == {}
    assert store.night_in_part(run) == {} and store.night_torch(run) is None
    assert store.others_nights() == [
        f"{path} is another run's night: {label} materialized is 1.0 in {run.path.name}, its visits' fastest 1.25 "
        "(asv run over the night class by hand?); not read"]
    store = ResultsStore(tmp_path / "results")  # a fastest visit under the value is another run's too
    night_file(run, {**mine, "wall_visits": {label: {"materialized": [1.5, 0.75]}}})
    assert store.night_visits(run) == {} and len(store.others_nights()) == 1
    store = ResultsStore(tmp_path / "results")  # a night recorded before the torch was kept: none
    night_file(run, {"wall_visits": mine["wall_visits"]})
    assert store.night_torch(run) is None and store.night_visits(run) == mine["wall_visits"]


def test_the_nights_sm_clocks_keep_a_build_nvml_could_not_read_as_none(tmp_path):
    """The night writes a config's clocks where any was read, None for a read that failed: each stays beside its
    build."""
    store, run = a_store(tmp_path)
    clocks = {"cfg": {"materialized": [1980, None], "causal_bias": [None, None]}, "other": {"materialized": [1.5]}}
    night_file(run, {"wall_visits": {}, "sm_clock_mhz": clocks})
    assert store.night_clocks(run) == clocks


@pytest.mark.parametrize("value", [0, -1.0, "1980", True, float("inf")])
def test_a_clock_that_is_neither_a_positive_number_nor_none_is_refused(tmp_path, value):
    store, run = a_store(tmp_path)
    path = night_file(run, json.dumps({"wall_visits": {}, "sm_clock_mhz": {"cfg": {"materialized": [1980, value]}}}))
    with pytest.raises(ToolError) as raised:
        store.night_clocks(run)
    assert str(raised.value) == f"corrupt {path}: a clock is neither a positive number nor null"


@pytest.mark.parametrize("value", [0.0, -1.0, "1", None, True])
def test_a_visit_that_is_not_a_positive_number_is_refused(tmp_path, value):
    store, run = a_store(tmp_path)
    path = night_file(run, json.dumps({"wall_visits": {"cfg": {"materialized": [1.0, value]}}}))
    with pytest.raises(ToolError) as raised:
        store.night_visits(run)
    assert str(raised.value) == f"corrupt {path}: a visit is not a positive number"


def test_infinite_and_nan_visits_are_refused(tmp_path):
    store, run = a_store(tmp_path)
    for text in ('{"wall_visits": {"c": {"m": [Infinity]}}}', '{"wall_visits": {"c": {"m": [NaN]}}}'):
        path = night_file(run, text)
        with pytest.raises(ToolError) as raised:
            store.night_visits(run)
        assert str(raised.value) == f"corrupt {path}: a visit is not a positive number"


@pytest.mark.parametrize("text", ["{broken", "[]", '{"other": 1}', '{"wall_visits": [1]}'])
def test_a_damaged_night_file_is_refused_naming_it(tmp_path, text):
    store, run = a_store(tmp_path)
    path = night_file(run, text)
    with pytest.raises(ToolError, match=rf"^corrupt {path}: \S"):
        store.night_visits(run)


# ---------------------------------------------------------------- side files: suspects and names


def test_previous_suspects_by_grid_config_mask_and_signal(tmp_path):
    store, run = a_store(tmp_path)
    assert results.previous_suspects(store, "box", run.commit_hash) == {}
    entry = {"grid": "cpu", "config": "c", "mask": "materialized", "signal": "wall", "bar": 1.2, "reference": 1.0,
             "contender": 1.25}
    results.verdict_path(store, "box", run.commit_hash).write_text(json.dumps({"suspects": [entry]}))
    assert results.previous_suspects(store, "box", run.commit_hash) == {("cpu", "c", "materialized", "wall"): entry}


KEPT = {"grid": "cpu", "config": "c", "mask": "materialized", "signal": "wall", "bar": 1.1, "reference": 1.0,
        "contender": 1.2}


@pytest.mark.parametrize("text", [
    "{broken", "[1, 2]", '{"other": []}', '{"suspects": [{"grid": "cpu"}]}', '{"suspects": 3}',
    *(json.dumps({"suspects": [{key: value for key, value in KEPT.items() if key != "bar"}]}),
      json.dumps({"suspects": [KEPT | {"signal": "syncs", "contender": "1"}]}),
      json.dumps({"suspects": [KEPT | {"signal": "syncs", "reference": None}]}),
      json.dumps({"suspects": [KEPT | {"bar": True}]}), json.dumps({"suspects": [KEPT | {"config": ["c"]}]})),
])
def test_a_damaged_verdict_file_is_refused_naming_it(tmp_path, text):
    store, run = a_store(tmp_path)
    path = results.verdict_path(store, "box", run.commit_hash)
    assert path == store.dir / "box" / f"{run.commit_hash}.verdict"
    path.write_text(text)
    with pytest.raises(ToolError, match=rf"^corrupt verdict file {path}: \S"):
        results.previous_suspects(store, "box", run.commit_hash)


def test_dispatch_names_as_written_or_none(tmp_path):
    store, run = a_store(tmp_path)
    assert results.dispatch_names(store, "box", run.commit_hash) == {}
    names = {"cfg": {"materialized": {"operators": {"aten::mm": 1}}}}
    (store.dir / "box" / f"{run.commit_hash}.dispatch").write_text(json.dumps(names))
    assert results.dispatch_names(store, "box", run.commit_hash) == names


def test_damaged_dispatch_names_are_refused_naming_the_file(tmp_path):
    store, run = a_store(tmp_path)
    path = store.dir / "box" / f"{run.commit_hash}.dispatch"
    path.write_text("[1]")
    with pytest.raises(ToolError) as raised:
        results.dispatch_names(store, "box", run.commit_hash)
    assert str(raised.value) == f"corrupt names file {path}: not a JSON object"
    path.write_text("{broken")
    with pytest.raises(ToolError, match=rf"^corrupt names file {path}: \S"):
        results.dispatch_names(store, "box", run.commit_hash)


@pytest.mark.parametrize("names", [{"cfg": {"materialized": {"operators": ["aten::mm"]}}},
                                   {"cfg": {"materialized": {"operators": {"aten::mm": "2"}}}},
                                   {"cfg": {"materialized": {"operators": {"aten::mm": True}}}},
                                   {"cfg": {"materialized": []}}, {"cfg": 1}])
def test_dispatch_names_of_another_shape_are_refused_before_the_verdict_reads_them(tmp_path, names):
    """The verdict compares tonight's names with last night's after the re-measurement: a file it cannot
    read there would end the check in a traceback (exit 3), and a count regression with it."""
    store, run = a_store(tmp_path)
    path = store.dir / "box" / f"{run.commit_hash}.dispatch"
    path.write_text(json.dumps(names))
    with pytest.raises(ToolError) as raised:
        results.dispatch_names(store, "box", run.commit_hash)
    assert str(raised.value) == f"corrupt names file {path}: not {{config: {{mask: {{kind: {{name: count}}}}}}}}"


def test_a_bare_method_name_is_read_like_a_full_one():
    assert results.must_be_positive("time_materialized")
    assert not results.must_be_positive("track_aten_ops_materialized")
    assert results.lower_is_better("time_materialized")
    assert not results.lower_is_better("track_aten_ops_materialized")


def test_a_failed_value_does_not_hide_a_non_number_after_it():
    name = f"{NIGHT}.track_aten_ops_materialized"
    assert damaged(name, [None, "1"]) == f"{name} has the value '1'"


def test_every_entry_of_benchmarks_json_but_version_must_be_an_object(tmp_path):
    store, _ = a_store(tmp_path)
    (store.dir / "benchmarks.json").write_text('{"zoo.C.time_x": 1, "version": 2}')
    with pytest.raises(ToolError, match="not an object of benchmark entries$"):
        store.benchmarks()


def test_an_entry_cut_before_the_duration_column_counts_nothing(tmp_path):
    store, run = a_store(tmp_path)
    data = json.loads(run.path.read_text())
    first, second = data["results"].values()
    del first[2:]  # result and params only
    second.extend([None] * (data["result_columns"].index("duration") + 1 - len(second)))
    second[data["result_columns"].index("duration")] = 3.0
    run.path.write_text(json.dumps(data))
    assert store.run_seconds(run) == 3.0


def test_hundreds_of_parameter_sets_are_counted_by_value():
    name = f"{NIGHT}.track_aten_ops_materialized"
    many = [[str(i) for i in range(300)]]  # beyond the small integers Python keeps one object of
    assert damaged(name, [1.0] * 300, many) is None
    assert damaged(name, [1.0] * 299, many) == f"{name} has 299 values for 300 parameter sets"


@pytest.mark.parametrize("text", ["{broken", "[1, 2]", '"text"', "[" * 100_000])
def test_an_unreadable_conf_is_one_line_for_every_tool_that_reads_it(tmp_path, text):
    """The default results folder and a derived conf read the conf through lib.conf.read_conf alone."""
    from lib import conf

    path = tmp_path / "asv.conf.json"
    path.write_text(text)
    for read in (lambda: results.default_results_dir(path),
                 lambda: conf.derived_conf(path, None, None, None, tmp_path / "out")):
        with pytest.raises(ToolError) as raised:
            read()
        message = str(raised.value)
        assert message.startswith(f"cannot read {path}: ") and "\n" not in message


def test_the_default_results_folder_is_the_confs_own_relative_to_it(tmp_path):
    path = tmp_path / "asv.conf.json"
    path.write_text('{// asv allows comments\n "results_dir": "kept/results"}')
    assert results.default_results_dir(path) == (tmp_path / "kept" / "results").resolve()
    path.write_text("{}")
    assert results.default_results_dir(path) == (tmp_path / "results").resolve()


def test_asvs_published_steps_name_both_commits_a_step_of_one_commit_its_parent(tmp_path):
    """regressions.json as asv publish writes it: [name, graph, params, index, last, best, jumps], each jump
    (revision before or None where the step is one commit, revision after, value before, value after)."""
    name = CPU.night_benchmark(schema.WALL_TIME.name, "causal_bias")
    hashes = {0: "a" * 40, 3: "b" * 40, 4: "c" * 40, 7: "d" * 40}
    (tmp_path / "index.json").write_text(json.dumps({"revision_to_hash": {str(k): v for k, v in hashes.items()},
                                                     "params": {"machine": ["box"]}}))
    (tmp_path / "regressions.json").write_text(json.dumps({"regressions": [
        [name, f"graphs/machine-box/{name}.json", {}, 0, 3.0, 1.0, [[None, 4, 1.0, 2.0], [0, 7, 2.0, 3.0]]]]}))
    assert results.published_steps(tmp_path, "box") == [
        {"benchmark": name, "after_commit": "cccccccc", "before_commit": "cccccccc^", "before": 1.0, "after": 2.0,
         "ratio": 2.0, "now_vs_best": 3.0},
        {"benchmark": name, "after_commit": "dddddddd", "before_commit": "aaaaaaaa", "before": 2.0, "after": 3.0,
         "ratio": 1.5, "now_vs_best": 3.0},
    ]


WALL_NAME = CPU.night_benchmark(schema.WALL_TIME.name, "causal_bias")


def published(tmp_path, entries: list, index: object) -> None:
    (tmp_path / "index.json").write_text(json.dumps(index))
    (tmp_path / "regressions.json").write_text(json.dumps({"regressions": entries}))


def test_a_series_with_a_figure_not_measured_keeps_its_other_steps(tmp_path):
    """A night that recorded 0 (a figure not measured, as the check reads it) gives asv a series with a 0 in it:
    its jumps are no step of the forward's, its best of 0 none to compare with, and never a division by zero
    after the re-measurement."""
    name = WALL_NAME
    index = {"revision_to_hash": {"1": "a" * 40, "2": "b" * 40, "3": "c" * 40}, "params": {"machine": ["box"]}}
    published(tmp_path, [[name, f"graphs/machine-box/{name}.json", {}, 0, 2.0, 0.0,
                          [[1, 2, 0.0, 1e-06], [2, 3, 1e-06, 2.0]]]], index)
    # The series' best stays 0 while that night is in it: its later step stands, with no best to compare.
    assert results.published_steps(tmp_path, "box") == [
        {"benchmark": name, "after_commit": "cccccccc", "before_commit": "bbbbbbbb", "before": 1e-06, "after": 2.0,
         "ratio": 2.0 / 1e-06, "now_vs_best": None}]
    published(tmp_path, [[name, f"graphs/machine-box/{name}.json", {}, 0, 2.0, 1.0,
                          [[1, 2, 0.0, 1.0], [2, 3, 1.0, 2.0]]]], index)
    assert results.published_steps(tmp_path, "box") == [
        {"benchmark": name, "after_commit": "cccccccc", "before_commit": "bbbbbbbb", "before": 1.0, "after": 2.0,
         "ratio": 2.0, "now_vs_best": 2.0}]


@pytest.mark.parametrize(("entries", "index", "why"), [
    ([["n", "graphs/machine-box/n.json", {}, 0, 1.0, [[None, 1, 1.0, 2.0]]]], {}, "not enough values to unpack"),
    ([], [], "'list' object has no attribute 'get'"),
    ([[WALL_NAME, "graphs/machine-box/w.json", {}, 0, 1.0, 1.0, [[None, 1, "x", 2.0]]]], {},
     "'>' not supported between instances of 'str' and 'int'"),
])
def test_damaged_published_pages_are_one_line_naming_the_folder(tmp_path, entries, index, why):
    published(tmp_path, entries, index)
    with pytest.raises(ToolError) as raised:
        results.published_steps(tmp_path, "box")
    assert str(raised.value).startswith(f"cannot read asv's pages in {tmp_path}: ") and why in str(raised.value)


def test_published_steps_of_this_machine_alone_where_the_pages_hold_several_and_of_lower_is_better_series(tmp_path):
    backend = CPU.night_benchmark(schema.SDPA_BACKEND.name, "causal_bias")
    index = {"revision_to_hash": {"1": "a" * 40, "2": "b" * 40}, "params": {"machine": ["box", "other"]}}
    step = [[1, 2, 0.25, 0.375]]  # seconds: a figure under 1 is a step as any other
    published(tmp_path, [[backend, f"graphs/machine-box/{backend}.json", {}, 0, 0.375, 0.25, step],
                         [WALL_NAME, f"graphs/machine-other/{WALL_NAME}.json", {}, 0, 0.375, 0.25, step],
                         [WALL_NAME, f"graphs/machine-box/{WALL_NAME}.json", {}, 0, 0.375, 0.25, step]], index)
    expected = {"benchmark": WALL_NAME, "after_commit": "bbbbbbbb", "before_commit": "aaaaaaaa", "before": 0.25,
                "after": 0.375, "ratio": 1.5, "now_vs_best": 1.5}
    assert results.published_steps(tmp_path, "box") == [expected]
    # One machine in the pages: its graphs are the machine's, whatever their path says.
    published(tmp_path, [[WALL_NAME, f"graphs/machine-other/{WALL_NAME}.json", {}, 0, 0.375, 0.25, step]],
              index | {"params": {"machine": ["box"]}})
    assert results.published_steps(tmp_path, "box") == [expected]


@pytest.mark.parametrize("jump, best", [([1, 2, 1.0, 0.0], 1.0), ([1, 2, 0.0, 1.0], 1.0), ([1, 2, 0.0, 0.0], 0.0)])
def test_a_published_jump_from_or_to_a_figure_not_measured_is_no_step(tmp_path, jump, best):
    index = {"revision_to_hash": {"1": "a" * 40, "2": "b" * 40}, "params": {"machine": ["box"]}}
    published(tmp_path, [[WALL_NAME, f"graphs/machine-box/{WALL_NAME}.json", {}, 0, 2.0, best, [jump]]], index)
    assert results.published_steps(tmp_path, "box") == []


@pytest.mark.parametrize("names, whole", [
    ({}, True), ({"c": {}}, True), ({"c": {"m": {"k": {"n": 0}}}}, True), ({"c": {"m": {"k": {}}}}, True),
    ({"c": {"m": {"k": {"n": 1.0}}}}, False), ({"c": {"m": {"k": {"n": False}}}}, False),
    ({"c": {"m": {"k": 1}}}, False), ({"c": {"m": {"k": {"n": {"x": 1}}}}}, False),
])
def test_a_names_file_is_four_levels_of_objects_over_whole_counts(names, whole):
    assert results.nested_counts(names, 4) is whole


def test_a_benchmarks_method_is_its_last_dotted_part_without_asvs_parameters():
    assert results.method_of("attention_bias.AttentionBias.time_causal_bias") == "time_causal_bias"
    assert results.method_of("attention_bias.AttentionBias.time_causal_bias(1, 2.5)") == "time_causal_bias"
    assert results.method_of("time_causal_bias") == "time_causal_bias"
