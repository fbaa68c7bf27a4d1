"""The benchmark's report: FLOP counts, statistics and issue #8's goal check, from raw times.

No model runs here: `bench/run.py --render` rebuilds a report from the per-step times a results
`.json` keeps, so these tests feed it the committed run (and edited copies of it).
"""

import copy
import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(REPO, "bench", "results.json")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(REPO, "bench", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def saved():
    with open(RESULTS, encoding="utf-8") as f:
        return json.load(f)


def test_flop_counts_match_the_standard_formula(bench):
    base = bench.CONFIGS["bert_base"]
    # 72·L·d² + 12·L·s·d + 6·f·(d² + d·V) for L12/H768, s 128, V 30522, f = 20/128.
    expected = 72 * 12 * 768**2 + 12 * 12 * 128 * 768 + 6 * (20 / 128) * (768**2 + 768 * 30522)
    assert bench.flops_per_token(base, 128, 20 / 128) == pytest.approx(expected)
    assert expected == 546_292_512  # 523,763,712 encoder + 22,528,800 MLM head
    # Training (no head) is three forward passes: forward + two for the backward.
    assert bench.flops_per_token(base, 128, 0) == 3 * bench.forward_flops_per_token(base, 128)
    with pytest.raises(AssertionError, match="intermediate"):
        bench.flops_per_token({**base, "intermediate_dim": 1000}, 128, 0)


def test_percentile_interpolates_like_numpy(bench):
    values = [5.0, 1.0, 4.0, 2.0]
    assert bench.percentile(values, 50) == pytest.approx(3.0)
    assert bench.percentile(values, 90) == pytest.approx(4.7)
    assert bench.percentile([], 50) != bench.percentile([], 50)  # nan


def test_render_reproduces_the_committed_report(bench, saved, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(saved))
    assert bench.main(["--render", str(path)]) == 0
    with open(os.path.join(REPO, "bench", "results.md"), encoding="utf-8") as f:
        committed = f.read()
    assert (tmp_path / "results.md").read_text(encoding="utf-8") == committed


def _pretrain_times(saved, impl, case_prefix):
    for result in saved["raw"]:
        if result["task"] == "pretrain_step" and result["impl"] == impl:
            for record in result["records"]:
                if record["case"].startswith(case_prefix):
                    yield record


def _verdict(ratio, limit=0.8):
    return "yes" if ratio <= limit else f"no ({100 * (ratio / limit - 1):.0f} % over)"


def test_goal_check_follows_the_times(bench, saved):
    goal = ("pretrain_step: ours ≤ 0.8× keras-hub", "bert_base (L12/H768/A12) s128 b8 m20", "xla")

    def rows_and_goals(data):
        rows = bench.summarize(data["raw"], data["specs"])
        return rows, {g[:3]: g for g in bench.goals(rows, data["finetune"])}

    def row(rows, impl):
        return next(r for r in rows if r["task"] == "pretrain_step" and r["impl"] == impl
                    and r["case"] == goal[1] and r["variant"] == goal[2])

    rows, by_goal = rows_and_goals(saved)
    _, _, _, ratio, met, mfu, needed = by_goal[goal]
    ours, peer = row(rows, "ours"), row(rows, "keras_hub")
    assert ratio == f"{ours['p50'] / peer['p50']:.2f}×"
    assert met == _verdict(ours["p50"] / peer["p50"])
    # Needed MFU: keras-hub's useful FLOP rate / 0.8, over the peak: ours at 0.8× its time.
    peak = ours["gflops"] / ours["mfu"]
    assert needed == f"{100 * peer['gflop_per_step'] / (0.8 * peer['p50']) / peak:.0f} %"

    # Our steps at 0.75× and at 1.25× keras-hub's: the same goal reads met, then 56 % over.
    for factor, verdict in ((0.75, "yes"), (1.25, "no (56 % over)")):
        edited = copy.deepcopy(saved)
        for record in _pretrain_times(edited, "ours", "bert_base"):
            if record["variant"] == goal[2]:
                record["times"] = [factor * peer["p50"]] * len(record["times"])
        assert rows_and_goals(edited)[1][goal][3:5] == (f"{factor:.2f}×", verdict)
