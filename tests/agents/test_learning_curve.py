"""The cold/warm split of a run's outcomes and its intervals (deterministic, seeded)."""
import pytest

from crib.agents.learning_curve import learning_curve, ratio_ci


def outcome(pid, score, calls, tokens, error=None, attempts=1):
    return {"problem_id": pid, "score": score, "calls": calls, "tokens_in": tokens,
            "tokens_out": 0, "error": error, "attempts": [{}] * attempts}


def test_cold_and_warm_follow_dataset_order_not_finish_order():
    order = [f"p{i}" for i in range(14)]
    # finished out of order; the cold part is p0..p9 whatever the finish order
    outs = [outcome(f"p{i}", 1.0 if i >= 10 or i % 2 else 0.0, 2, 100 if i >= 10 else 500)
            for i in reversed(range(14))]
    curve = learning_curve(outs, order, cold_size=10, seed=0)
    assert (curve.cold.first, curve.cold.last, curve.cold.n) == (1, 10, 10)
    assert (curve.warm.first, curve.warm.last, curve.warm.n) == (11, 14, 4)
    assert curve.cold.accuracy == 0.5 and curve.warm.accuracy == 1.0
    assert curve.cold.tokens_per_solved == 1000.0 and curve.warm.tokens_per_solved == 100.0
    assert curve.cold.calls_per_solved == 4.0 and curve.warm.calls_per_solved == 2.0
    assert curve.cold.accuracy_low < 0.5 < curve.cold.accuracy_high
    assert curve.calls_per_attempt() == 2.0
    again = learning_curve(list(reversed(outs)), order, cold_size=10, seed=0)
    assert again == curve  # seeded: the same intervals


def test_errors_score_zero_and_a_part_that_solved_nothing_has_no_cost_per_solved():
    outs = [outcome("a", 1.0, 1, 10, error="agent failed"), outcome("b", 0.0, 3, 30)]
    curve = learning_curve(outs, ["a", "b"], cold_size=10)
    assert curve.cold.solved == 0 and curve.cold.tokens_per_solved is None
    assert curve.warm is None


def test_ratio_interval_resamples_costs_and_scores_together():
    value, low, high = ratio_ci([10, 10, 10, 10], [1, 1, 0, 1], seed=1)
    assert value == pytest.approx(40 / 3)
    assert 10 <= low <= value <= high <= 40
