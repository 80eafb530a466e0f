"""The probes, solvers and training loop on CUDA agree with the same code on the CPU.

Every test builds one problem in float64 on the CPU, moves a copy to CUDA and compares: deterministic
computations (NTK, kernels, CKA/CCA, weight spectra, landscapes, pursuits, matching, a fixed-seed
training run) to rounding level, iterative eigen-solvers to their tolerance. One test checks that float32
on CUDA is float32: the top Hessian eigenvalue of a small CNN in float32 on the GPU against float64 on the
CPU (TensorFloat-32 convolutions, on by default in PyTorch, would miss by ~1e-3).

Skipped where CUDA is absent (CI has no GPU); run them on a GPU machine with ``pytest tests/test_cuda.py``
(``DLTHEORY_TEST_DEVICE=cuda:1`` or ``mps`` picks another device; ``cpu`` runs the comparisons CPU against CPU,
which checks the tests themselves).
"""

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core import functionalize, isolated_global_rng
from dltheory.core.device import exact_float32
from dltheory.probes import (
    cka,
    dense_hessian,
    hessian_eigenvalues,
    loss_closure,
    loss_plane,
    permutation_spec,
    procrustes_distance,
    pwcca,
    random_direction,
    svcca,
    weight_matching,
)
from dltheory.probes.ntk import cnn_kernels, empirical_ntk, fc_kernels
from dltheory.probes.weights import weight_spectra
from dltheory.sparse.pursuit import fista, omp

CUDA = torch.device(os.environ.get("DLTHEORY_TEST_DEVICE", "cuda"))  # another device to compare with the CPU
pytestmark = pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs CUDA")
D64 = torch.float64


def _mlp(seed=0, sizes=(8, 32, 32, 3), dtype=D64):
    with isolated_global_rng(seed, "cuda-mlp"):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
        return nn.Sequential(*layers).to(dtype)


def _cnn(seed=0, dtype=D64):
    with isolated_global_rng(seed, "cuda-cnn"):
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).to(dtype)


def _data(n=64, shape=(8,), k=3, seed=1, dtype=D64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g, dtype=dtype), torch.randint(0, k, (n,), generator=g)


def _on(model, device):
    return copy.deepcopy(model).to(device)


def _top_eigs(model, X, y, k=3, tol=1e-8):
    loss = loss_closure(model, F.cross_entropy, (X, y))
    return hessian_eigenvalues(loss, functionalize(model).params, k=k, tol=tol).eigenvalues.cpu().double()


def test_hessian_eigenvalues_match_cpu_and_the_dense_hessian():
    model, (X, y) = _mlp(), _data()
    cpu = _top_eigs(model, X, y)
    gpu_model = _on(model, CUDA)
    gpu = _top_eigs(gpu_model, X.to(CUDA), y.to(CUDA))
    torch.testing.assert_close(gpu, cpu, rtol=1e-7, atol=0)
    H = dense_hessian(loss_closure(gpu_model, F.cross_entropy, (X.to(CUDA), y.to(CUDA))), functionalize(gpu_model).params)
    ref = torch.linalg.eigvalsh(H.cpu()).flip(0)[:3]
    torch.testing.assert_close(gpu, ref, rtol=1e-7, atol=0)


def test_float32_on_cuda_is_float32():
    """The top Hessian eigenvalue of a CNN in float32 on the GPU is within float32 accuracy of float64 on the CPU."""
    model, (X, y) = _cnn(), _data(n=32, shape=(3, 8, 8), k=10)
    ref = float(_top_eigs(model, X, y, k=1)[0])
    m32 = _on(model, CUDA).float()
    got = float(_top_eigs(m32, X.float().to(CUDA), y.to(CUDA), k=1, tol=1e-5)[0])
    assert abs(got - ref) / abs(ref) < 1e-4, (got, ref)


def test_float32_convolutions_are_ieee_inside_runs():
    """Inside :func:`exact_float32` (every run) a float32 convolution with a long inner sum is accurate to float32
    rounding; TensorFloat-32, PyTorch's default for cuDNN, keeps 10 mantissa bits (relative error ~1e-3)."""
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(8, 256, 16, 16, generator=g, dtype=D64), torch.randn(256, 256, 3, 3, generator=g, dtype=D64)
    ref = F.conv2d(x, w, padding=1)
    with exact_float32():
        got = F.conv2d(x.float().to(CUDA), w.float().to(CUDA), padding=1).double().cpu()
    err = float((got - ref).abs().max() / ref.abs().max())
    assert err < 1e-5, err


def test_empirical_ntk_and_analytic_kernels_match_cpu():
    model, (X, _) = _mlp(sizes=(8, 64, 3)), _data(n=16)
    for output in ("trace", "full"):
        cpu = empirical_ntk(model, X, output=output)
        gpu = empirical_ntk(_on(model, CUDA), X.to(CUDA), output=output)
        assert gpu.device.type == CUDA.type
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12)
    for kernels, x in ((fc_kernels, X), (cnn_kernels, _data(n=4, shape=(2, 6, 6))[0])):
        cpu = kernels(x, depth=2)
        gpu = kernels(x.to(CUDA), depth=2)
        for a, b in zip(gpu, cpu, strict=True):  # arccos(rho) near rho = 1 (the diagonal) turns a rounding
            assert a.device.type == CUDA.type     # difference of 1e-16 in rho into sqrt(2e-16) ~ 1.5e-8 in the angle
            torch.testing.assert_close(a.cpu(), b, rtol=1e-7, atol=1e-12)


def test_similarity_measures_match_cpu():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(200, 30, generator=g, dtype=D64)
    Y = X @ torch.randn(30, 20, generator=g, dtype=D64) + 0.5 * torch.randn(200, 20, generator=g, dtype=D64)
    Xc, Yc = X.to(CUDA), Y.to(CUDA)
    for kw in ({}, {"unbiased": True}, {"kernel": "rbf"}):
        assert cka(Xc, Yc, **kw) == pytest.approx(cka(X, Y, **kw), rel=1e-10)
    assert svcca(Xc, Yc).similarity == pytest.approx(svcca(X, Y).similarity, rel=1e-10)
    assert pwcca(Xc, Yc) == pytest.approx(pwcca(X, Y), rel=1e-10)
    assert procrustes_distance(Xc, Yc) == pytest.approx(procrustes_distance(X, Y), rel=1e-10)


def test_weight_spectra_match_cpu():
    model = _cnn()
    cpu = weight_spectra(model)
    gpu = weight_spectra(_on(model, CUDA))
    for a, b in zip(gpu, cpu, strict=True):
        assert a.layer == b.layer
        for f in ("alpha", "xmin", "ks_distance", "mp_sigma2", "stable_rank", "log_spectral_norm"):
            assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-9, nan_ok=True), f


def test_loss_plane_matches_cpu():
    model, (X, y) = _mlp(), _data()
    point = {n: p.detach() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(5)
    d1, d2 = (random_direction(point, generator=g) for _ in range(2))
    grid = np.linspace(-0.5, 0.5, 5)
    cpu = loss_plane(model, F.cross_entropy, (X, y), point, d1, d2, grid, grid)
    mv = lambda d: {n: t.to(CUDA) for n, t in d.items()}  # noqa: E731
    gpu = loss_plane(_on(model, CUDA), F.cross_entropy, (X.to(CUDA), y.to(CUDA)), mv(point), mv(d1), mv(d2), grid, grid)
    np.testing.assert_allclose(np.asarray(gpu.loss), np.asarray(cpu.loss), rtol=1e-10)


def test_weight_matching_matches_cpu():
    a, b = _mlp(seed=0, sizes=(8, 64, 64, 3)), _mlp(seed=1, sizes=(8, 64, 64, 3))
    spec = permutation_spec(a, torch.zeros(2, 8, dtype=D64))
    cpu = weight_matching(spec, dict(a.named_parameters()), dict(b.named_parameters()))
    ga, gb = _on(a, CUDA), _on(b, CUDA)
    gpu = weight_matching(spec, dict(ga.named_parameters()), dict(gb.named_parameters()))
    assert cpu.keys() == gpu.keys()
    for k in cpu:
        assert torch.equal(gpu[k].cpu(), cpu[k]), k


def test_pursuits_match_cpu():
    g = torch.Generator().manual_seed(7)
    D = torch.randn(40, 100, generator=g, dtype=D64)
    D = D / D.norm(dim=0)
    Y = torch.randn(6, 40, generator=g, dtype=D64)
    cpu, gpu = fista(D, Y, 0.1, 300), fista(D.to(CUDA), Y.to(CUDA), 0.1, 300)
    torch.testing.assert_close(gpu.codes.cpu(), cpu.codes, rtol=1e-8, atol=1e-10)
    cpu, gpu = omp(D, Y, 5), omp(D.to(CUDA), Y.to(CUDA), 5)
    torch.testing.assert_close(gpu.codes.cpu(), cpu.codes, rtol=1e-8, atol=1e-10)


def test_an_experiment_runs_on_cuda_and_repeats_itself(tmp_path):
    """Same config and seed, same numbers on the same machine: twice on the device, every metric equal, every
    claim holding (on an H200 about 95 s for the two runs: thousands of small GD steps, bound by kernel launches)."""
    from dltheory.runner import run_experiment

    runs = [run_experiment("implicit-bias/separable-logistic", preset="quick", seed=0, device=str(CUDA), runs_dir=tmp_path / str(i))
            for i in range(2)]
    assert all(r.status == "ok" for r in runs), [(r.status, r.result.get("error")) for r in runs]
    assert runs[0].result["metrics"] == runs[1].result["metrics"]
