"""bootstrap_ci equals scipy.stats.bootstrap (percentile method) on the same data and seed."""
import numpy as np
import pytest
from scipy import stats

from crib.agents.stats import bootstrap_ci, interval


def _scipy(scores, seed, n_resamples, confidence, statistic):
    fn = np.median if statistic == "median" else np.mean
    res = stats.bootstrap((np.asarray(scores, dtype=float),), fn, method="percentile",
                          n_resamples=n_resamples, confidence_level=confidence,
                          rng=np.random.default_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("statistic", ["median", "mean"])
@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_equals_scipy_on_binary_and_continuous_scores(statistic, seed):
    gen = np.random.default_rng(seed + 100)
    for scores in (gen.integers(0, 2, 40).astype(float), gen.random(25), gen.random(7) * 100):
        value, low, high = bootstrap_ci(scores, seed, n_resamples=2000, statistic=statistic)
        s_low, s_high = _scipy(scores, seed, 2000, 0.95, statistic)
        # Exact: same generator, same draws, same quantile rule.
        assert (low, high) == (s_low, s_high)
        assert value == float(np.median(scores) if statistic == "median" else np.mean(scores))


def test_equals_scipy_at_other_confidence_and_default_resamples():
    scores = [0.0, 1.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.75, 1.0, 1.0, 0.0, 0.3]
    _, low, high = bootstrap_ci(scores, seed=3, confidence=0.9)
    assert (low, high) == _scipy(scores, 3, 10_000, 0.9, "median")


def test_blocked_resampling_matches_scipy_for_large_n():
    # n large enough that bootstrap_ci draws in several row blocks.
    scores = np.random.default_rng(1).random(3000)
    _, low, high = bootstrap_ci(scores, seed=5, n_resamples=3000, statistic="mean")
    assert (low, high) == _scipy(scores, 5, 3000, 0.95, "mean")


def test_degenerate_inputs_and_record():
    assert bootstrap_ci([], seed=0) == (0.0, 0.0, 0.0)
    assert bootstrap_ci([0.4], seed=0) == (0.4, 0.4, 0.4)
    rec = interval([1, 0, 1, 1], seed=9, n_resamples=500)
    assert (rec.n, rec.seed, rec.n_resamples) == (4, 9, 500)
    assert rec.low <= rec.value <= rec.high
    with pytest.raises(ValueError):
        bootstrap_ci([1, 2], seed=0, statistic="mode")


def test_fitness_ci_is_the_median_of_bootstrap_means_with_scipy_interval():
    from crib.agents.stats import fitness_ci

    scores = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    med, low, high = fitness_ci(scores, seed=4, n_resamples=3000)
    assert (low, high) == _scipy(scores, 4, 3000, 0.95, "mean")
    res = stats.bootstrap((np.asarray(scores, float),), np.mean, method="percentile",
                          n_resamples=3000, rng=np.random.default_rng(4))
    assert med == float(np.median(res.bootstrap_distribution))
