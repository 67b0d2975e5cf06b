"""A young history's suspect that stays: listed again the next night, with the reason, never dropped."""

from __future__ import annotations

from test_check_regressions import CONFIGS, run_check, write_night


def test_a_young_historys_suspect_that_stays_2x_slower_the_next_night_is_listed_again_with_the_reason(tmp_path):
    """Night 1 a 2x step with one night of history: a suspect, kept (--record-verdict). Night 2 still 2x: its
    step is in the reference and the model's spread now, so only night 0 shows it; listed, never dropped."""
    results = tmp_path / "results"
    wall = {(i, m): (150e-6 if i < 2 else 2.1e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    gpu = {(i, m): (40e-6 if i < 2 else 2e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    write_night(results, 0, wall, gpu)
    reports = []
    for night in (1, 2):
        write_night(results, night, {**wall, (2, "causal_bias"): 2.1e-3 * 2.0}, gpu)
        reports.append(run_check(results))
    (code1, first), (code2, second) = reports
    assert (code1, code2) == (0, 0) and first["regressions"] == second["regressions"] == []
    assert [(f["config"], f["mask"], f["signal"]) for f in first["suspects"]] == [(CONFIGS[2], "causal_bias", "wall")]
    assert [(f["config"], f["mask"], f["signal"], f["ratio"], f["why"]) for f in second["suspects"]] == [
        (CONFIGS[2], "causal_bias", "wall", 2.0,
         "a suspect last night too, still 2.00x the night before it; the history is too short to call it: "
         "the noise model needs 3 clean nights")]
