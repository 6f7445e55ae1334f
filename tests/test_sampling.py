"""Sample mode, first part: the ``distributions`` and ``sample`` sections and the samplers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import stats

from sweep.planning.sampling import (
    MC_BLOCK,
    n_evaluations,
    salib_problem,
    saltelli_block,
    saltelli_matrix,
    sample_block,
    uniforms,
)
from sweep.spec.config import ConfigError, load_config, parse_text, spec_from_dict
from sweep.spec.distributions import Distribution, ppf, support

DISTRIBUTIONS = {
    "gpu_hour_usd": {"uniform": {"low": 2.0, "high": 4.0}},
    "electricity_usd_per_kwh": {"loguniform": {"low": 0.03, "high": 0.2}},
    "utilization": {"triangular": {"low": 0.4, "mode": 0.65, "high": 0.9}},
    "pue": {"normal": {"mean": 1.25, "sd": 0.08, "low": 1.05, "high": 1.6}},
    "tokens_per_s_per_gpu": {"lognormal": {"median": 3000.0, "sigma": 0.3}},
    "lifetime_years": {"discrete": {"values": [4, 5, 6], "probs": [0.25, 0.5, 0.25]}},
}


def sample_dict(method: str = "sobol", n: int = 1024, seed: int = 42, **overrides) -> dict:
    """Six distributions (one of each kind) and a categorical axis that sets opex."""
    d = {
        "name": "sampled",
        "axes": {"platform": {"labels": ["A", "B"],
                              "set": {"opex_usd_per_gpu_hour": [0.1, 0.2]}}},
        "constants": {"kw_per_gpu": 1.5},
        "distributions": copy.deepcopy(DISTRIBUTIONS),
        "sample": {"method": method, "n": n, "seed": seed},
    }
    d.update(overrides)
    return d


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        spec_from_dict(data, "f.yaml")
    return [f"{p.path} | {p.value!r} | {p.expected}" for p in info.value.problems]


def _set(name: str, kind: str, **params):
    def change(d):
        d["distributions"][name][kind].update(params)
    return change


def _grid_without_axes(d):
    d.pop("sample")
    d.pop("distributions")
    d.pop("axes")


@pytest.mark.parametrize(
    ("change", "path", "value", "fragment"),
    [
        # per distribution kind
        (_set("gpu_hour_usd", "uniform", high=1.0), "distributions.gpu_hour_usd.uniform.high",
         1.0, "high > low (2)"),
        (_set("gpu_hour_usd", "uniform", low=-1.0), "distributions.gpu_hour_usd.uniform.low",
         -1.0, "low inside the valid range of gpu_hour_usd: a finite number in [0, 10000]"),
        (_set("electricity_usd_per_kwh", "loguniform", low=0.0),
         "distributions.electricity_usd_per_kwh.loguniform.low", 0.0, "low > 0"),
        (_set("utilization", "triangular", mode=1.2), "distributions.utilization.triangular.mode",
         1.2, "a mode in [low, high] = [0.4, 0.9]"),
        (_set("utilization", "triangular", high=1.5), "distributions.utilization.triangular.high",
         1.5, "inside the valid range of utilization: a finite number in [0, 1]"),
        (_set("pue", "normal", sd=0.0), "distributions.pue.normal.sd", 0.0, "sd > 0"),
        (_set("pue", "normal", low=0.5), "distributions.pue.normal.low", 0.5,
         "low inside the valid range of pue: a finite number in [1, 10]"),
        (_set("pue", "normal", low=1.5, high=1.2), "distributions.pue.normal.high", 1.2,
         "low < high (they are [1.5, 1.2])"),
        (_set("pue", "normal", mean=12.0, low=None, high=None), "distributions.pue.normal.mean",
         12.0, "a mean inside the truncation bounds [1, 10] (the valid range of pue)"),
        (_set("pue", "normal", sd="wide"), "distributions.pue.normal.sd", "wide",
         "a number, not text"),
        (_set("tokens_per_s_per_gpu", "lognormal", sigma=-0.3),
         "distributions.tokens_per_s_per_gpu.lognormal.sigma", -0.3, "sigma > 0"),
        (_set("tokens_per_s_per_gpu", "lognormal", median=0.0),
         "distributions.tokens_per_s_per_gpu.lognormal.median", 0.0, "median > 0"),
        (_set("tokens_per_s_per_gpu", "lognormal", low=5000.0, high=9000.0),
         "distributions.tokens_per_s_per_gpu.lognormal.median", 3000.0,
         "a median inside the truncation bounds [5000, 9000] (low/high)"),
        (_set("lifetime_years", "discrete", probs=[0.25, 0.5, 0.15]),
         "distributions.lifetime_years.discrete.probs", [0.25, 0.5, 0.15],
         "sum to 1 (within 1e-09; they sum to 0.9)"),
        (_set("lifetime_years", "discrete", probs=[0.5, 0.5]),
         "distributions.lifetime_years.discrete.probs", [0.5, 0.5],
         "3 probabilities, one per value"),
        (_set("lifetime_years", "discrete", probs=[-0.25, 1.0, 0.25]),
         "distributions.lifetime_years.discrete.probs[0]", -0.25, "a probability >= 0"),
        (_set("lifetime_years", "discrete", values=[0.0, 5, 6]),
         "distributions.lifetime_years.discrete.values[0]", 0.0,
         "inside the valid range of lifetime_years: a finite number in [0.1, 100] years"),
        (_set("lifetime_years", "discrete", values=[4, 5, 5]),
         "distributions.lifetime_years.discrete.values[2]", 5.0, "unique values (duplicate)"),
        (lambda d: d["distributions"]["pue"].update(uniform={"low": 1.1, "high": 1.3}),
         "distributions.pue", ["uniform", "normal"], "exactly one of uniform, loguniform, "
         "triangular, normal, lognormal, discrete"),
        (lambda d: d["distributions"].update(pue2={"uniform": {"low": 1.1, "high": 1.3}}),
         "distributions.pue2", "pue2", "an input name, one of gpu_hour_usd"),
        (lambda d: d["distributions"]["pue"]["normal"].update(mena=1.2),
         "distributions.pue.normal.mena", "mena", "did you mean 'mean'"),
        (lambda d: d["distributions"].update(kw_per_gpu={"gamma": {"k": 2}}),
         "distributions.kw_per_gpu.gamma", "gamma", "a known key (uniform, loguniform"),
        # across sections
        (lambda d: d["constants"].update(pue=1.2), "distributions.pue", "pue",
         "pue is already set by constants.pue"),
        (lambda d: d["distributions"].update(
            opex_usd_per_gpu_hour={"uniform": {"low": 0.0, "high": 1.0}}),
         "distributions.opex_usd_per_gpu_hour", "opex_usd_per_gpu_hour",
         "opex_usd_per_gpu_hour is already set by axes.platform"),
        (lambda d: d["axes"].update(hw={"presets": ["HGX H100"]}),
         "distributions.gpu_hour_usd", "gpu_hour_usd", "already set by axes.hw"),
        (lambda d: d["axes"].update(cost_of_capital={"values": [0.05, 0.1]}),
         "axes.cost_of_capital", ["values"], "only categorical axes (labels, presets) with "
         "`sample`: give cost_of_capital a distribution instead"),
        (lambda d: d.update(reduce={"over": ["platform"]}), "reduce.over", ["platform"],
         "a list that folds `sample`"),
        (lambda d: d.pop("sample"), "distributions", list(DISTRIBUTIONS),
         "a `sample` section too"),
        (lambda d: d.update(distributions={}), "distributions", {},
         "at least one input's distribution, since a `sample` section is given"),
        (_grid_without_axes, "axes", {}, "at least one axis"),
        (lambda d: d["distributions"].pop("tokens_per_s_per_gpu"), "outputs[0]",
         "usd_per_mtok", "set as a constant, on a categorical axis or by a distribution "
         "(they have no default): "),
        (lambda d: d["distributions"].pop("tokens_per_s_per_gpu"), "outputs[0]",
         "usd_per_mtok", "hbm_tb_s, hbm_gb, params_shared_b"),
        # the sample section
        (lambda d: d["sample"].update(n=1000), "sample.n", 1000,
         "a power of 2 (>= 2) of samples for method sobol (its balance properties need it), "
         "e.g. 512 or 1024"),
        (lambda d: d["sample"].update(method="saltelli", n=3000), "sample.n", 3000,
         "a power of 2 (>= 2) of base samples N for method saltelli"),
        (lambda d: d["sample"].update(n=1), "sample.n", 1, "a power of 2 (>= 2)"),
        (lambda d: d["sample"].update(n=2**31), "sample.n", 2**31,
         "at most 2**30 = 1073741824 samples for method sobol"),
        (lambda d: d["sample"].update(method="mc", n=1), "sample.n", 1,
         "at least 2 samples for method mc"),
        (lambda d: d["sample"].update(method="lhs", n=2**22 + 1), "sample.n", 2**22 + 1,
         "at most 2**22 = 4194304 samples for method lhs"),
        (lambda d: d["sample"].update(seed=-1), "sample.seed", -1, "a seed in [0, 4294967295]"),
        (lambda d: d["sample"].update(chunk=0), "sample.chunk", 0, "a chunk size >= 1"),
        (lambda d: d["sample"].update(method="quasi"), "sample.method", "quasi", "'sobol'"),
        (lambda d: d["sample"].pop("n"), "sample.n", None, "Field required"),
        (lambda d: d["sample"].update(n=True), "sample.n", True, "a whole number"),
    ],
)
def test_each_error_names_its_path_value_and_expectation(change, path, value, fragment):
    d = sample_dict()
    change(d)
    found = problems(d)
    if value is None:   # a missing key: pydantic shows the mapping it is missing from
        assert any(line.startswith(f"{path} |") and fragment in line for line in found), found
        return
    line = f"{path} | {value!r} | "
    assert any(x.startswith(line) and fragment in x for x in found), (line, found)


def test_every_distribution_problem_is_reported_at_once():
    d = sample_dict()
    d["distributions"]["pue"]["normal"]["sd"] = -1.0
    d["distributions"]["utilization"]["triangular"]["mode"] = 0.1
    d["sample"]["n"] = 1000
    d["constants"]["gpu_hour_usd"] = 3.0
    assert len(problems(d)) == 4


def test_sample_mode_needs_no_axes_and_keeps_categorical_ones():
    d = sample_dict()
    d.pop("axes")
    spec = spec_from_dict(d)
    assert spec.axes == {} and list(spec.distributions) == list(DISTRIBUTIONS)
    assert spec.sample.method == "sobol" and spec.sample.chunk is None
    spec = spec_from_dict(sample_dict())
    assert spec.axes["platform"].categorical
    # defaults: sobol, seed 0
    d = sample_dict()
    d["sample"] = {"n": 8}
    assert spec_from_dict(d).sample.model_dump() == {"method": "sobol", "n": 8, "seed": 0,
                                                     "chunk": None}


def test_discrete_without_probs_has_equal_weights():
    d = sample_dict(method="mc", n=30_000)
    d["distributions"]["lifetime_years"] = {"discrete": {"values": [4, 5, 6]}}
    values = sample_block(spec_from_dict(d), 0, 30_000)["lifetime_years"]
    freq = np.array([(values == v).mean() for v in (4, 5, 6)])
    # 5 standard errors of a frequency near 1/3 from 30 000 samples: 0.014
    np.testing.assert_allclose(freq, 1 / 3, atol=0.014)


YAML = """
name: sensitivity
axes:
  platform:
    labels: [HGX H200, GB300 NVL72]
    set: {kw_per_gpu: [1.7, 2.1]}
distributions:            # one per input
  gpu_hour_usd: {uniform: {low: 2.0, high: 4.0}}
  electricity_usd_per_kwh: {loguniform: {low: 0.03, high: 0.2}}
  utilization: {triangular: {low: 0.4, mode: 0.65, high: 0.9}}
  pue: {normal: {mean: 1.25, sd: 0.08, low: 1.05, high: 1.6}}
  tokens_per_s_per_gpu: {lognormal: {median: 3e3, sigma: 0.3}}
  lifetime_years: {discrete: {values: [4, 5, 6], probs: [0.25, 0.5, 0.25]}}
sample: {method: saltelli, n: 1024, seed: 42, chunk: 256}
"""

TOML = """
name = "sensitivity"

[axes.platform]
labels = ["HGX H200", "GB300 NVL72"]
set = {kw_per_gpu = [1.7, 2.1]}

[distributions]
gpu_hour_usd = {uniform = {low = 2.0, high = 4.0}}
electricity_usd_per_kwh = {loguniform = {low = 0.03, high = 0.2}}
utilization = {triangular = {low = 0.4, mode = 0.65, high = 0.9}}
pue = {normal = {mean = 1.25, sd = 0.08, low = 1.05, high = 1.6}}
tokens_per_s_per_gpu = {lognormal = {median = 3000, sigma = 0.3}}
lifetime_years = {discrete = {values = [4, 5, 6], probs = [0.25, 0.5, 0.25]}}

[sample]
method = "saltelli"
n = 1024
seed = 42
chunk = 256
"""


def test_a_yaml_example_and_its_toml_twin(write_file):
    spec = spec_from_dict(parse_text(YAML, "yaml"))
    assert spec == load_config(write_file("s.yaml", YAML)) == load_config(write_file("s.toml",
                                                                                     TOML))
    assert spec.sample.method == "saltelli" and spec.sample.chunk == 256
    assert spec.distributions["tokens_per_s_per_gpu"].lognormal.median == 3000.0
    assert spec.distributions["lifetime_years"].kind == "discrete"
    assert n_evaluations(spec) == 1024 * (6 + 2)
    a, b = saltelli_block(spec, 0, 1024)
    assert a.shape == b.shape == (1024, 6)


# --------------------------------------------------------------------------- the samplers


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_samples_do_not_depend_on_the_chunking(method):
    n = 2**17 if method == "sobol" else 150_001      # mc: three blocks of 2**16
    spec = spec_from_dict(sample_dict(method, n=n, seed=7))
    whole = sample_block(spec, 0, n)
    for cuts in ([0, 1, n], [0, MC_BLOCK - 1, MC_BLOCK + 1, n], [0, 40_000, 40_000, 131_000, n]):
        parts = [sample_block(spec, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        for name, values in whole.items():
            assert values.dtype == np.float64 and values.shape == (n,)
            assert np.array_equal(np.concatenate([p[name] for p in parts]), values), name


def test_saltelli_matrices_do_not_depend_on_the_chunking():
    spec = spec_from_dict(sample_dict("saltelli", n=4096))
    a, b = saltelli_block(spec, 0, 4096)
    a1, b1 = saltelli_block(spec, 0, 1000)
    a2, b2 = saltelli_block(spec, 1000, 4096)
    assert np.array_equal(np.vstack([a1, a2]), a) and np.array_equal(np.vstack([b1, b2]), b)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_the_seed_decides_the_numbers(method):
    one = uniforms(method, 3, 5, 0, 4096, 4096)
    assert np.array_equal(one, uniforms(method, 3, 5, 0, 4096, 4096))
    other = uniforms(method, 3, 6, 0, 4096, 4096)
    assert not np.any(one == other)
    assert one.shape == (4096, 3) and np.all((one > 0) & (one < 1))


def test_uniforms_are_uniform_and_refuse_bad_ranges():
    for method in ("mc", "lhs", "sobol"):
        u = uniforms(method, 2, 1, 0, 2**14, 2**14)
        # KS against U(0, 1): the p-value of a correct sampler (fixed seed) is not tiny
        for k in range(2):
            assert stats.kstest(u[:, k], "uniform").pvalue > 1e-3, method
    with pytest.raises(ValueError, match="not inside"):
        uniforms("mc", 2, 1, 10, 5, 100)
    with pytest.raises(ValueError, match="method"):
        uniforms("saltelli", 2, 1, 0, 5, 100)


def test_saltelli_block_reproduces_salib_exactly():
    from SALib.sample import sobol as salib_sobol

    d = sample_dict("saltelli", n=512, seed=11)
    d["distributions"] = {"gpu_hour_usd": {"uniform": {"low": 2.0, "high": 4.0}},
                          "pue": {"uniform": {"low": 1.1, "high": 1.5}},
                          "utilization": {"uniform": {"low": 0.3, "high": 0.9}}}
    d["constants"]["tokens_per_s_per_gpu"] = 3000.0
    spec = spec_from_dict(d)
    problem = salib_problem(spec)
    assert problem["names"] == ["gpu_hour_usd", "pue", "utilization"]
    expected = salib_sobol.sample(problem, 512, calc_second_order=False, scramble=True,
                                  seed=11)
    a, b = saltelli_block(spec, 0, 512)
    ours = saltelli_matrix(a, b)
    assert ours.shape == expected.shape == (512 * 5, 3)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    # rows per base sample j: A_j, AB_j1..AB_jD (A_j with column i from B_j), B_j
    rows = expected.reshape(512, 5, 3)
    assert np.array_equal(rows[:, 0], a) and np.array_equal(rows[:, 4], b)
    assert np.array_equal(rows[:, 2, 1], b[:, 1]) and np.array_equal(rows[:, 2, 0], a[:, 0])


def test_saltelli_block_matches_salib_for_its_other_distributions():
    from SALib.sample import sobol as salib_sobol

    d = sample_dict("saltelli", n=256, seed=3)
    d["distributions"] = {k: v for k, v in DISTRIBUTIONS.items()
                          if k in ("electricity_usd_per_kwh", "utilization", "pue",
                                   "tokens_per_s_per_gpu")}
    spec = spec_from_dict(d)
    problem = salib_problem(spec)
    assert problem["dists"] == ["logunif", "triang", "truncnorm", "lognorm"]
    expected = salib_sobol.sample(problem, 256, calc_second_order=False, scramble=True, seed=3)
    np.testing.assert_allclose(saltelli_matrix(*saltelli_block(spec, 0, 256)), expected,
                               rtol=1e-10, atol=0)


def test_salib_problem_refuses_what_salib_cannot_express():
    with pytest.raises(ValueError, match="lifetime_years"):
        salib_problem(spec_from_dict(sample_dict("saltelli")))


def test_n_evaluations_and_the_wrong_sampler():
    assert n_evaluations(spec_from_dict(sample_dict("mc", n=1000))) == 1000
    assert n_evaluations(spec_from_dict(sample_dict("saltelli", n=1024))) == 1024 * 8
    with pytest.raises(ValueError, match="saltelli_block"):
        sample_block(spec_from_dict(sample_dict("saltelli")), 0, 10)


# --------------------------------------------------------------------------- distributions


def _frozen(name: str, spec: Distribution):
    """The scipy.stats distribution that ``spec`` (for input ``name``) should follow."""
    p, kind = spec.params, spec.kind
    if kind == "uniform":
        return stats.uniform(loc=p.low, scale=p.high - p.low)
    if kind == "loguniform":
        return stats.loguniform(p.low, p.high)
    if kind == "triangular":
        return stats.triang((p.mode - p.low) / (p.high - p.low), loc=p.low,
                            scale=p.high - p.low)
    if kind == "normal":
        low, high = support(spec, name)
        return stats.truncnorm((low - p.mean) / p.sd, (high - p.mean) / p.sd, loc=p.mean,
                               scale=p.sd)
    assert kind == "lognormal"   # its truncation here ([0, 1e9]) holds all but ~1e-300
    return stats.lognorm(p.sigma, scale=p.median)


CONTINUOUS = [k for k, v in DISTRIBUTIONS.items() if "discrete" not in v]


@pytest.mark.parametrize("name", CONTINUOUS)
def test_ppf_is_the_inverse_cdf_of_the_scipy_distribution(name):
    spec = spec_from_dict(sample_dict())
    dist = spec.distributions[name]
    u = np.linspace(1e-6, 1 - 1e-6, 1001)
    np.testing.assert_allclose(ppf(dist, u, name), _frozen(name, dist).ppf(u), rtol=1e-9)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_monte_carlo_samples_follow_their_distribution(name):
    n = 20_000
    spec = spec_from_dict(sample_dict("mc", n=n, seed=2024))
    x = sample_block(spec, 0, n)[name]
    frozen = _frozen(name, spec.distributions[name])
    # fixed seed: deterministic; a wrong transform gives a p-value far below 1e-3 at this n
    assert stats.kstest(x, frozen.cdf).pvalue > 1e-3
    # the mean within 5 standard errors (sd / sqrt(n))
    assert abs(x.mean() - frozen.mean()) < 5 * frozen.std() / np.sqrt(n)
    low, high = support(spec.distributions[name], name)
    assert x.min() >= low and x.max() <= high


def test_sobol_samples_hit_quantiles_closely():
    n = 2**14
    spec = spec_from_dict(sample_dict("sobol", n=n, seed=1))
    block = sample_block(spec, 0, n)
    for name in CONTINUOUS:
        frozen = _frozen(name, spec.distributions[name])
        q = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
        # a scrambled Sobol' sample's empirical CDF is within a few 1/n of the true one
        np.testing.assert_allclose(frozen.cdf(np.quantile(block[name], q)), q, atol=2e-3)


def test_discrete_frequencies():
    n = 40_000
    x = sample_block(spec_from_dict(sample_dict("mc", n=n, seed=9)), 0, n)["lifetime_years"]
    assert set(np.unique(x)) == {4.0, 5.0, 6.0}
    freq = np.array([(x == v).mean() for v in (4, 5, 6)])
    # 5 standard errors, sqrt(p (1 - p) / n) <= 0.0025
    np.testing.assert_allclose(freq, [0.25, 0.5, 0.25], atol=0.0125)


def test_truncation_is_respected_and_defaults_to_the_valid_range():
    d = sample_dict("mc", n=20_000)
    d["distributions"] = {
        "utilization": {"normal": {"mean": 0.95, "sd": 0.2}},             # [0, 1] by default
        "pue": {"normal": {"mean": 1.25, "sd": 0.5, "low": 1.1, "high": 1.4}},
        "tokens_per_s_per_gpu": {"lognormal": {"median": 100.0, "sigma": 1.0, "high": 200.0}},
    }
    spec = spec_from_dict(d)
    x = sample_block(spec, 0, 20_000)
    assert support(spec.distributions["utilization"], "utilization") == (0.0, 1.0)
    assert x["utilization"].min() >= 0.0 and x["utilization"].max() <= 1.0
    assert x["pue"].min() >= 1.1 and x["pue"].max() <= 1.4
    assert x["tokens_per_s_per_gpu"].min() > 0.0 and x["tokens_per_s_per_gpu"].max() <= 200.0
    util = stats.truncnorm((0 - 0.95) / 0.2, (1 - 0.95) / 0.2, loc=0.95, scale=0.2)
    assert stats.kstest(x["utilization"], util.cdf).pvalue > 1e-3
    # lognormal truncated above at 200: ln X is a normal truncated at ln 200
    logs = stats.truncnorm(-np.inf, (np.log(200.0) - np.log(100.0)) / 1.0, loc=np.log(100.0))
    assert stats.kstest(np.log(x["tokens_per_s_per_gpu"]), logs.cdf).pvalue > 1e-3
    # the extremes of u stay finite and inside
    u = np.array([2.0**-53, 1 - 2.0**-53])
    for name, dist in spec.distributions.items():
        values = ppf(dist, u, name)
        low, high = support(dist, name)
        assert np.all(np.isfinite(values)) and np.all((values >= low) & (values <= high))
