"""The HMM estimators at the edges: states that receive no posterior weight (a fit never returns
NaN parameters), impossible data, singular covariances (constant data, one-sample states), and
``decode(algorithm="map")``'s value."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bagu_fast import hmm
from bagu_fast.hmm import CategoricalHMM, GaussianHMM

COVARIANCE_TYPES = ("diag", "spherical", "full", "tied")


def _unreachable_second_state(m):
    """State 1 has start probability 0 and no transition into it: it never gets any weight."""
    m.startprob_ = np.array([1.0, 0.0])
    m.transmat_ = np.array([[1.0, 0.0], [0.5, 0.5]])
    return m


def _params(m):
    names = ("emissionprob_",) if isinstance(m, CategoricalHMM) else ("means_", "covars_")
    return {name: np.copy(getattr(m, name)) for name in ("startprob_", "transmat_") + names}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_unreachable_state_raises_instead_of_nan(covariance_type, rng):
    X = rng.standard_normal((30, 2))
    m = _unreachable_second_state(GaussianHMM(2, covariance_type=covariance_type, init_params="mc", n_iter=5,
                                              random_state=0))
    with pytest.raises(ValueError, match=r"state\(s\) \[1\].*no weight") as info:
        m.fit(X)
    assert "means_" in str(info.value)
    # the parameters are those before the failed M-step: finite, and the model still scores
    for name, value in _params(m).items():
        assert np.all(np.isfinite(value)), name
    assert np.isfinite(m.score(X))
    assert len(m.monitor_.history) == 0 or np.all(np.isfinite(m.monitor_.history))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_unreachable_state_with_a_prior_fits(covariance_type, rng):
    """With a prior on the means and covariances the empty state is defined: no error, finite
    parameters, and hmmlearn's zero transmat_ row with a warning."""
    X = rng.standard_normal((30, 2))
    m = _unreachable_second_state(GaussianHMM(2, covariance_type=covariance_type, init_params="mc", n_iter=3,
                                              means_weight=1.0, covars_weight=4.0, random_state=0))
    with pytest.warns(RuntimeWarning, match=r"transmat_ rows of state\(s\) \[1\]"):
        m.fit(X)
    for name, value in _params(m).items():
        assert np.all(np.isfinite(value)), name
    np.testing.assert_array_equal(m.means_[1], 0.0)  # the prior's mean
    assert np.all(np.isfinite(m.monitor_.history))


def test_categorical_unreachable_state_keeps_hmmlearns_zero_rows(rng):
    X = rng.integers(0, 3, (30, 1))
    m = _unreachable_second_state(CategoricalHMM(2, init_params="e", n_iter=5, random_state=0))
    with pytest.warns(RuntimeWarning, match="transmat_"):
        m.fit(X)
    for name, value in _params(m).items():
        assert np.all(np.isfinite(value)), name
    np.testing.assert_array_equal(m.emissionprob_[1], 0.0)
    np.testing.assert_allclose(m.emissionprob_[0].sum(), 1.0)
    assert np.all(np.isfinite(m.monitor_.history))


@pytest.mark.parametrize("cls", [CategoricalHMM, GaussianHMM])
def test_impossible_data_raises(cls, rng):
    """Symbol 2 cannot be emitted by any state: EM has nothing to start from."""
    if cls is CategoricalHMM:
        X = np.array([[0], [1], [2], [0]])
        m = CategoricalHMM(2, init_params="", n_features=3, n_iter=3)
        m.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]])
    else:  # a state sequence the transitions forbid: 0 -> 1 only, and state 1's emissions rule it out
        X = np.zeros((4, 1))
        m = GaussianHMM(2, init_params="", n_iter=3)
        m.means_ = np.array([[0.0], [1e6]])
        m.covars_ = np.array([[1.0], [1e-300]])
    m.startprob_ = np.array([1.0, 0.0]) if cls is GaussianHMM else np.array([0.5, 0.5])
    m.transmat_ = np.array([[0.0, 1.0], [0.0, 1.0]]) if cls is GaussianHMM else np.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="probability 0"):
        m.fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("data", ["constant", "one-sample state"])
def test_gaussian_degenerate_data_fits(covariance_type, data, rng):
    """Constant data and a state holding one sample make singular covariances; as hmmlearn the
    density then adds 1e-7 to the diagonal (full / tied) and the fit goes on."""
    if data == "constant":
        X = np.ones((20, 2))
    else:  # the outlier at row 10 gets a state of its own
        X = rng.standard_normal((20, 2))
        X[10] = [50.0, -50.0]
    for backend in ("cpu", "reference"):
        m = GaussianHMM(2, covariance_type=covariance_type, n_iter=6, random_state=0, backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m.fit(X)
        for name, value in _params(m).items():
            assert np.all(np.isfinite(value)), name
        assert np.all(np.isfinite(m.monitor_.history))
        assert np.isfinite(m.score(X))
        if backend == "cpu":
            cpu = m.monitor_.history
    # (later iterations hinge on whether rounding-level noise leaves a covariance factorable)
    np.testing.assert_allclose(cpu[0], m.monitor_.history[0], rtol=1e-9)


def test_singular_covariance_density_adds_the_jitter():
    m = GaussianHMM(2, covariance_type="full", init_params="")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.full((2, 2), 0.5)
    m.means_ = np.array([[0.0, 0.0], [1.0, 1.0]])
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    m.covars_ = np.array([singular, np.eye(2)])
    X = np.array([[0.1, 0.1], [1.0, 1.0], [-2.0, -2.0 + 1e-4]])  # along the singular direction
    le = m._log_emission(X)
    np.testing.assert_allclose(le[:, 0], multivariate_normal([0, 0], singular + 1e-7 * np.eye(2)).logpdf(X),
                               rtol=1e-9)
    np.testing.assert_allclose(le[:, 1], multivariate_normal([1, 1], np.eye(2)).logpdf(X), rtol=1e-12)
    assert np.isfinite(m.score(X))
    m.covars_ = np.array([-np.eye(2), np.eye(2)])  # not positive-definite, even with the jitter
    with pytest.raises(ValueError, match="covars_ of state 0"):
        m.score(X)
    m.covars_ = np.array([[[1.0, 0.5], [0.0, 1.0]], np.eye(2)])
    with pytest.raises(ValueError, match="symmetric"):
        m.score(X)


def test_zero_diagonal_variance_is_the_smallest_positive_one():
    m = GaussianHMM(2, covariance_type="diag", init_params="")
    m.startprob_ = np.array([0.5, 0.5])
    m.transmat_ = np.full((2, 2), 0.5)
    m.means_ = np.array([[0.0], [1.0]])
    m.covars_ = np.array([[0.0], [1.0]])
    X = np.array([[0.0], [1.0]])
    le = m._log_emission(X)
    tiny = np.finfo(float).tiny
    np.testing.assert_allclose(le[0, 0], -0.5 * (np.log(2 * np.pi) + np.log(tiny)))
    assert le[1, 0] < -1e300  # (x - mean)^2 / tiny
    assert np.isfinite(m.score(X))
    m.covars_ = np.array([[-1.0], [1.0]])
    with pytest.raises(ValueError, match="covars_"):
        m.score(X)


@pytest.mark.parametrize("cls", [CategoricalHMM, GaussianHMM])
def test_decode_map_value_is_hmmlearns(cls, rng):
    """hmmlearn 0.3.3: log_prob = sum over sequences of np.max(posteriors, axis=1).sum()."""
    if cls is CategoricalHMM:
        X = rng.integers(0, 3, (40, 1))
        m = CategoricalHMM(3, n_iter=2, random_state=0).fit(X)
    else:
        X = rng.standard_normal((40, 2))
        m = GaussianHMM(3, n_iter=2, random_state=0).fit(X)
    lengths = [15, 1, 24]
    logprob, states = m.decode(X, lengths, algorithm="map")
    expected, r0 = 0.0, 0
    for L in lengths:
        post = m.predict_proba(X[r0:r0 + L])
        expected += np.max(post, axis=1).sum()
        r0 += L
    np.testing.assert_allclose(logprob, expected, rtol=1e-12)
    np.testing.assert_array_equal(states, m.predict_proba(X, lengths).argmax(axis=1))
    assert logprob <= len(X)
    # and "viterbi" stays the best paths' log-probability
    vlp, path = m.decode(X, lengths, algorithm="viterbi")
    ls, lt = np.log(m.startprob_), np.log(m.transmat_)
    ref_path, ref_lp = hmm.viterbi(ls, lt, m._log_emission(m._check_X(X, False)), lengths, backend="reference")
    np.testing.assert_allclose(vlp, ref_lp.sum(), rtol=1e-12)
    np.testing.assert_array_equal(path, ref_path)
