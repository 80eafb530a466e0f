"""Config hardening: every numeric field has an upper bound, list entries are validated one by one.

Bad input is one ``ConfigError`` line before a run starts (not a run that ends as ``error``
or runs until killed). The ids below are those whose configs were bounded so far; extend
``BOUNDED`` as more are done.
"""

import pytest
from typer.testing import CliRunner

from dltheory.cli import app
from dltheory.core.errors import ConfigError
from dltheory.experiments.registry import build_config, get, unbounded_fields

BOUNDED = [
    "representations/svcca",
    "implicit-bias/separable-logistic",
    "implicit-bias/importance-weighting",
    "edge-of-stability/progressive-sharpening",
    "edge-of-stability/sharpness-reduction",
    "landscape/hessian-spectrum",
    "dropout/matrix-factorization",
    "dropout/linear-regression",
    "dropout/linear-autoencoder",
    "dropout/explicit-regularizer",
    "intro/depth-separation",
    "intro/optimizers",
    "intro/universal-approximation",
    "intro/nonlinear-pca",
    "intro/super-resolution",
    "landscape/matrix-completion",
    "implicit-bias/steepest-descent-geometry",
    "implicit-bias/kernel-rich-regimes",
    "implicit-bias/matrix-sensing",
    "implicit-bias/sgd-linear-stability",
    "implicit-bias/deep-matrix-factorization",
    "landscape/one-hidden-layer-design",
    "landscape/linear-mode-connectivity",
    "landscape/git-rebasin",
    "landscape/permutation-invariance",
    "landscape/rebasin-renormalization",
    "landscape/mode-connectivity",
    "landscape/filter-normalization",
    "sparse-coding/ml-csc-pursuit",
    "weights/heavy-tailed-spectra",
    "generalization/double-descent",
    "expressivity/linear-regions",
    "sparse-coding/csc-local-global",
    "sparse-coding/residual-as-pursuit",
    "intro/residual-trainability",
    "generalization/random-labels",
    "generalization/spectral-margin-bounds",
    "ntk/exact-cntk",
    "ntk/kernel-convergence",
    "ntk/linearized-dynamics",
    "ntk/noisy-labels",
    "ntk/fine-grained",
    "sparse-coding/natural-image-dictionary",
    "sparse-coding/deconvolutional-network",
    "sparse-coding/mixed-scale-dense",
    "dropout/generalization",
    "dropout/early-stopping",
    "dropout/frequency-principle",
    "intro/convolution-prior",
    "intro/attention",
    "sparse-coding/sparse-dictionary-network",
    "dropout/condensation",
    "representations/cka-correspondence",
]

EOS = "edge-of-stability/progressive-sharpening"


@pytest.mark.parametrize("exp_id", BOUNDED)
def test_every_numeric_field_has_an_upper_bound(exp_id):
    assert unbounded_fields(get(exp_id).Config) == []


@pytest.mark.parametrize("exp_id", BOUNDED)
def test_every_preset_validates(exp_id):
    exp = get(exp_id)
    for preset in exp.presets:
        build_config(exp, preset)


@pytest.mark.parametrize(
    ("exp_id", "overrides", "needles"),
    [
        (EOS, {"lrs": [-1, 0.1]}, ["lrs[0]", "greater than 0"]),
        (EOS, {"lrs": [0.1, float("nan")]}, ["lrs", "must be finite"]),
        (EOS, {"lrs": [float("inf"), 0.1]}, ["lrs", "must be finite"]),
        (EOS, {"lrs": [0.1, 100.0]}, ["lrs[1]", "less than or equal to 10"]),
        (EOS, {"hidden": [0]}, ["hidden[0]", "greater than or equal to 1"]),
        (EOS, {"hidden": [16, 10**6]}, ["hidden[1]"]),
        (EOS, {"cnn_widths": [8, 8, 8, 8]}, ["cnn_widths"]),
        (EOS, {"max_steps": 10**20}, ["max_steps"]),
        (EOS, {"eos_steps": 1e20}, ["eos_steps"]),
        ("landscape/hessian-spectrum", {"classes": [5, 1]}, ["classes[1]"]),
        ("landscape/hessian-spectrum", {"hidden": [20, -3]}, ["hidden[1]"]),
        ("landscape/hessian-spectrum", {"max_steps": 10**20}, ["max_steps"]),
        ("dropout/matrix-factorization", {"widths": [0]}, ["widths[0]"]),
        ("dropout/matrix-factorization", {"widths": [2, True]}, ["widths", "bool"]),
        ("dropout/matrix-factorization", {"gd_steps": 10**20}, ["gd_steps"]),
        ("dropout/matrix-factorization", {"init_scale": 1e9}, ["init_scale"]),
        ("edge-of-stability/sharpness-reduction", {"dims": [2, 0]}, ["dims[1]"]),
        ("edge-of-stability/sharpness-reduction", {"max_steps": 10**20}, ["max_steps"]),
        ("implicit-bias/separable-logistic", {"steps": 10**20}, ["steps"]),
        ("implicit-bias/importance-weighting", {"steps": 10**20}, ["steps"]),
        ("dropout/linear-regression", {"mc_samples": 10**20}, ["mc_samples"]),
        ("dropout/linear-autoencoder", {"steps": 10**20}, ["steps"]),
        ("dropout/explicit-regularizer", {"num_samples": 10**20}, ["num_samples"]),
        ("implicit-bias/kernel-rich-regimes", {"alphas": [-1, 0.1]}, ["alphas[0]", "greater than 0"]),
        ("implicit-bias/kernel-rich-regimes", {"max_steps": 10**20}, ["max_steps"]),
        ("implicit-bias/matrix-sensing", {"init_scales": [0, -1]}, ["init_scales[0]", "greater than 0"]),
        ("implicit-bias/matrix-sensing", {"steps": 1e20}, ["steps"]),
        ("implicit-bias/matrix-sensing", {"steps": True}, ["steps", "bool"]),
        ("implicit-bias/steepest-descent-geometry", {"p_values": [0.5, -2]}, ["p_values[0]", "greater than 1"]),
        ("implicit-bias/steepest-descent-geometry", {"md_steps": 1e20}, ["md_steps"]),
        ("implicit-bias/sgd-linear-stability", {"steps": 1e20}, ["steps"]),
        ("implicit-bias/sgd-linear-stability", {"steps": True}, ["steps", "bool"]),
        ("implicit-bias/sgd-linear-stability", {"lr": 1e9}, ["lr"]),
        ("implicit-bias/deep-matrix-factorization", {"steps": 1e20}, ["steps"]),
        ("implicit-bias/deep-matrix-factorization", {"depths": [2, 1]}, ["depths[1]"]),
        ("implicit-bias/deep-matrix-factorization", {"observations": [350, True]}, ["observations", "bool"]),
        ("landscape/matrix-completion", {"steps": 1e20}, ["steps"]),
        ("landscape/matrix-completion", {"p_sweep": [0.1, 2.0]}, ["p_sweep[1]"]),
        ("intro/depth-separation", {"shallow_widths": [4, 0]}, ["shallow_widths[1]"]),
        ("intro/depth-separation", {"fit_steps": 1e20}, ["fit_steps"]),
        ("intro/optimizers", {"max_steps": 10**20}, ["max_steps"]),
        ("intro/universal-approximation", {"widths": [16, 32, 10**6]}, ["widths[2]"]),
        ("intro/universal-approximation", {"grid_points": 1e20}, ["grid_points"]),
        ("intro/nonlinear-pca", {"steps": 1e20}, ["steps"]),
        ("intro/nonlinear-pca", {"noise": -0.1}, ["noise"]),
    ],
)
def test_bad_values_are_one_config_error(exp_id, overrides, needles):
    with pytest.raises(ConfigError) as info:
        build_config(get(exp_id), "quick", overrides)
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_nan_entry_is_named_with_its_index():
    with pytest.raises(ConfigError, match="must be finite") as info:
        build_config(get(EOS), "quick", {"lrs": [float("nan"), 0.1]})
    assert "'lrs[0]'" in str(info.value)


@pytest.mark.parametrize("setting", ["lrs=[-1,0.1]", "lrs=[NaN,0.1]", "hidden=[0]", "max_steps=1e20"])
def test_cli_refuses_bad_values_with_one_line_and_exit_2(setting, tmp_path):
    r = CliRunner().invoke(app, ["run", EOS, "--preset", "tiny", "--set", setting, "--runs-dir", str(tmp_path)])
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line + r.stdout
    assert "invalid value for '" + setting.split("=")[0] in line
    assert not any(tmp_path.iterdir())  # no run was started
