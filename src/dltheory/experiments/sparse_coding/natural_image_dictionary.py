r"""Sparse coding of whitened natural image patches learns localized, oriented, bandpass atoms; PCA learns global ones (Olshausen & Field 1996).

Paper: Olshausen & Field, "Emergence of simple-cell receptive field properties by learning a sparse
code for natural images", Nature 381:607-609, 1996. Patches :math:`y` of whitened natural images are
written :math:`y \approx Dx` with a penalty on the codes that favours few large coefficients; the
learned atoms look like simple-cell receptive fields (localized, oriented, bandpass: Gabor-like), and
the codes are heavy-tailed, while the principal components of the same patches are global (Fourier-like).

Setup:

- images: scikit-learn's two bundled photographs in gray (:func:`dltheory.data.images.sample_images`),
  averaged over ``downsample`` x ``downsample`` blocks (removes JPEG block noise), then whitened by the
  paper's filter on the whole image, :math:`R(f) = f\,e^{-(f/f_0)^4}` (f the radial frequency in
  cycles/pixel, ``f0`` = 0.4 as in Olshausen & Field: flattens the ~1/f amplitude spectrum, rolls off
  near Nyquist); an 8-pixel border is dropped (the FFT's periodic boundary) and the result scaled to
  unit pixel variance. ``num_patches`` random P x P patches (:func:`~dltheory.data.images.random_patches`).
- sparse coding: :func:`dltheory.sparse.learn_dictionary`, the :math:`\ell_1` form of the paper's
  sparseness cost (:math:`\tfrac12\|y - Dx\|^2 + \lambda\|x\|_1`, unit atoms), online minibatch
  (Mairal et al. 2009) with FISTA codes.
- PCA (the oracle for "global"): the top ``num_atoms`` right singular vectors of the centered patch
  matrix by :func:`numpy.linalg.svd`.
- statistics (:mod:`~dltheory.experiments.sparse_coding.gabor`): the :math:`R^2` of a 2-D Gabor fit
  to each atom (scipy ``least_squares``), the spatial spread (RMS radius of the atom's energy about its
  centroid over that of a uniform patch: about 1 for a global atom), and the kurtosis
  :math:`E[s^4]/E[s^2]^2` (scipy.stats.kurtosis, Pearson: Gaussian = 3) of each atom's linear response
  :math:`s = D^+ y` over the patches. Linear responses, not the Lasso codes: a soft-thresholded Gaussian
  is heavy-tailed too (its zeros), so Lasso codes are leptokurtic even for Gaussian data (the
  "sparse-prior artefact", reported as a metric for both), while any linear response of Gaussian data
  has kurtosis exactly 3.

Claims (thresholds fixed before the runs):

1. ``learned_atoms_gabor_like``: median Gabor :math:`R^2` of the learned atoms > 0.8 (the paper's
   atoms "resemble Gabor functions"; 0.8 = four fifths of the atom's variance explained, the usual
   bar for a "good" fit of a receptive field by a Gabor);
2. ``gabor_fit_beats_pca``: median :math:`R^2` learned minus median :math:`R^2` of the PCA atoms > 0;
3. ``learned_atoms_localized``: median spread of the learned atoms < the 1% quantile of the spread of
   white-noise atoms (Monte Carlo, ``null_draws`` draws): a global atom spreads its energy over the
   whole patch, so the typical learned atom is more localized than 99% of random global ones;
4. ``localized_vs_pca``: median spread learned < median spread PCA;
5. ``responses_heavy_tailed``: median kurtosis of the learned atoms' responses > 6, the Laplacian's
   (the sparse prior; Gaussian: 3).

Check (theory, exact up to sampling): ``gaussian_responses_kurtosis_three``: the learned atoms' responses
to Gaussian patches with the patches' covariance have median kurtosis within :math:`5\sqrt{24/N}` of 3
(the standard error of the sample kurtosis of N Gaussian draws is :math:`\sqrt{24/N}`); ``gabor_fit_recovers_planted``:
the fitter returns :math:`R^2 > 0.999` on a known Gabor.

Negative control (tests/experiments/test_natural_image_dictionary.py): ``source = "gaussian"`` learns
on Gaussian noise with the same covariance as the whitened patches: no structure beyond second order,
so claims 1, 3 and 5 fail (atoms global and poorly fit by Gabors, kurtosis 3).

Fresh seed 727 (2026-12-04 course audit) FAILED claim 1 at quick's old 300 iterations (median R^2 0.786; the
thin margin noted below). More steps, bound unchanged: quick now runs 600 iterations (727: 0.833; 1000 gave
0.839): seeds 750-769 (fresh), 0, 408 and 727 hold every claim and check, 23/23 (median R^2 0.818-0.881, over
PCA by 0.13-0.23), 5-7 s a seed. Before that, at 300 iterations:
Checked on: quick preset, seeds 0 and 400-419 (21 seeds): every claim and check holds on every seed.
Across 400-419: median Gabor R^2 0.803-0.886 learned vs 0.653-0.727 PCA (the margin over 0.8 is thin:
seed 408 gives 0.803); median spread 0.773-0.824 learned vs 1.013-1.030 PCA, null 1% quantile
0.852-0.858; median response kurtosis 10.9-16.9 learned (PCA 11.3-12.2: whitened photographs are
heavy-tailed in any local basis, so no learned-vs-PCA kurtosis claim is made), Gaussian-patch responses
2.92-3.07; Lasso-code kurtosis 66-73 on the photographs, 15-16 on the Gaussian surrogate (the
thresholding artefact). Negative control (source = gaussian, seed 0): R^2 0.50, spread 0.966,
kurtosis 3.06: claims 1, 2, 3 and 5 fail. Quick wall time 8-10 s on one thread of a lightly loaded
2-core machine (up to 36 s under a load average of 6), above the ~6 s target.
Changed size, patch_size = 10, num_atoms = 100, seeds 400-404: claims 2-5 hold, but claim 1 fails on
all five (median R^2 0.72-0.77); with 1000 iterations seed 400 passes (0.815) and seed 402 does not
(0.793): at 10 x 10 only about half the atoms reach R^2 0.8 at these budgets (not loosened). With more
learning at that size (1500 iterations, 20,000 patches, 30 FISTA steps per coding; the bound unchanged),
seeds 400-404: every claim and check holds on 5/5 (median R^2 0.851-0.895 learned vs PCA ~0.6, spread
0.70-0.72, kurtosis 11.9-14.1; ~42 s a run): a larger patch needs a longer run, as the full preset has.
Full preset (12 x 12 patches, 144 atoms, 50,000 patches, 3000 iterations), seed 0, 136 s on one thread: every
claim and check holds (median R^2 0.915 learned, +0.287 over PCA; spread 0.589; kurtosis 15.1; Gaussian 2.99).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from scipy.stats import kurtosis

from dltheory.core.plotting import PALETTE, THEORY, figure
from dltheory.data.images import random_patches, sample_images
from dltheory.experiments.base import Experiment, ExperimentConfig, RunLog
from dltheory.experiments.registry import register
from dltheory.experiments.sparse_coding.gabor import fit_gabor, gabor, spatial_spread
from dltheory.sparse import fista, learn_dictionary

SOURCE = "Olshausen & Field 1996 (Nature 381:607), Fig. 4"
BORDER = 8  # pixels dropped at each image edge after the periodic FFT filter


def whitened_images(downsample: int, f0: float) -> torch.Tensor:
    r"""The bundled photographs, block-averaged by ``downsample``, filtered by :math:`R(f) = f e^{-(f/f_0)^4}`, cropped, unit variance: (2, H, W) float64."""
    img = sample_images()
    N, H, W = img.shape
    H, W = H // downsample * downsample, W // downsample * downsample
    img = img[:, :H, :W].reshape(N, H // downsample, downsample, W // downsample, downsample).mean((2, 4))
    H, W = img.shape[1:]
    f = torch.sqrt(torch.fft.fftfreq(H, dtype=img.dtype)[:, None] ** 2 + torch.fft.fftfreq(W, dtype=img.dtype)[None, :] ** 2)
    R = f * torch.exp(-((f / f0) ** 4))
    white = torch.fft.ifft2(torch.fft.fft2(img) * R).real[:, BORDER:-BORDER, BORDER:-BORDER]
    return white / white.std()


def gaussian_like(Y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian samples with the (uncentered) covariance of the rows of Y, as many as Y has."""
    C = Y.T @ Y / Y.shape[0]
    w, V = torch.linalg.eigh(C)
    return torch.randn(Y.shape, generator=generator, dtype=Y.dtype, device=generator.device).to(Y.device) @ (V * w.clamp(min=0).sqrt()) @ V.T


def null_spread_quantile(P: int, draws: int, q: float, rng: np.random.Generator) -> float:
    """The q-quantile of the spatial spread of white-noise P x P atoms (Monte Carlo)."""
    return float(np.quantile(spatial_spread(rng.standard_normal((P * P, draws))), q))


def pearson_kurtosis(S: np.ndarray) -> np.ndarray:
    """Kurtosis E[(s - mean)^4] / var^2 of each column (Gaussian: 3), scipy.stats.kurtosis(fisher=False)."""
    return kurtosis(S, axis=0, fisher=False)


def atom_grid(D: np.ndarray, cols: int) -> np.ndarray:
    """Atoms (P*P, m) as one image, each scaled to max |.| = 1, one pixel of gap."""
    P = int(round(np.sqrt(D.shape[0])))
    rows = -(-D.shape[1] // cols)
    G = np.full((rows * (P + 1) - 1, cols * (P + 1) - 1), np.nan)
    for j in range(D.shape[1]):
        r, c = divmod(j, cols)
        G[r * (P + 1):r * (P + 1) + P, c * (P + 1):c * (P + 1) + P] = D[:, j].reshape(P, P) / np.abs(D[:, j]).max()
    return G


@register
class NaturalImageDictionary(Experiment):
    """Sparse coding of whitened natural image patches: Gabor-like localized atoms and heavy-tailed responses; PCA atoms are global."""

    id = "sparse-coding/natural-image-dictionary"
    lecture = 5
    title = "Sparse coding of natural images learns localized, oriented, bandpass atoms; PCA learns global ones"
    papers = ("olshausen1996",)

    class Config(ExperimentConfig):
        source: Literal["natural", "gaussian"] = Field("natural", description="patches of the whitened photographs, or Gaussian noise with their covariance (negative control)")
        patch_size: int = Field(8, ge=4, le=16, description="side P of the square patches (P*P pixels)")
        num_atoms: int = Field(64, ge=4, le=512, description="atoms of the learned dictionary; also the number of PCA atoms (at most P*P)")
        num_patches: int = Field(8000, ge=256, le=200_000, description="training patches")
        downsample: int = Field(2, ge=1, le=4, description="block-averaging factor of the photographs before whitening")
        f0: float = Field(0.4, gt=0.0, le=0.5, description="roll-off frequency of the whitening filter R(f) = f exp(-(f/f0)^4), cycles/pixel")
        lam: float = Field(1.0, ge=0.0, le=100.0, description="l1 penalty of the codes (pixels have unit variance)")
        iterations: int = Field(600, ge=1, le=100_000, description="minibatch steps of online dictionary learning")
        batch_size: int = Field(256, ge=1, le=100_000, description="patches per minibatch")
        code_steps: int = Field(15, ge=1, le=1000, description="FISTA steps per coding (warm-started)")
        null_draws: int = Field(20_000, ge=100, le=1_000_000, description="white-noise atoms drawn for the spread null distribution")

    presets = {
        "tiny": {"num_patches": 1000, "num_atoms": 16, "iterations": 20, "batch_size": 128, "null_draws": 1000},
        "quick": {},
        "full": {"patch_size": 12, "num_atoms": 144, "num_patches": 50_000, "iterations": 3000, "code_steps": 30, "null_draws": 100_000},
    }

    def run(self, config: Config, log: RunLog) -> None:
        P = config.patch_size
        n = P * P
        if config.batch_size > config.num_patches:
            raise ValueError(f"`batch_size` must be <= num_patches = {config.num_patches}; got {config.batch_size}.")
        white = whitened_images(config.downsample, config.f0).to(log.device)
        Y = random_patches(white, P, config.num_patches, generator=log.generator("patches"))  # (N, n)
        natural = Y
        gauss = gaussian_like(natural, log.generator("gaussian"))
        if config.source == "gaussian":
            Y = gauss
        res = learn_dictionary(Y, config.num_atoms, config.lam, iterations=config.iterations, batch_size=config.batch_size,
                               code_steps=config.code_steps, generator=log.generator("learning"))
        for i, f in enumerate(res.objective.tolist()):
            if (i + 1) % max(1, config.iterations // 50) == 0:
                log.scalar("batch_objective", i + 1, f)
        D = res.dictionary.cpu().numpy()
        Yn = Y.cpu().numpy()
        _, svals, Vt = np.linalg.svd(Yn - Yn.mean(0), full_matrices=False)
        Dp = Vt[: min(config.num_atoms, n)].T  # (n, <= m) PCA atoms
        fits = [fit_gabor(D[:, j]) for j in range(D.shape[1])]
        fits_p = [fit_gabor(Dp[:, j]) for j in range(Dp.shape[1])]
        r2, r2p = np.array([f[0] for f in fits]), np.array([f[0] for f in fits_p])
        spread, spread_p = spatial_spread(D), spatial_spread(Dp)
        q01 = null_spread_quantile(P, config.null_draws, 0.01, log.rng("null"))
        W = np.linalg.pinv(D)  # (m, n): linear responses s = W y
        kurt, kurt_p = pearson_kurtosis(Yn @ W.T), pearson_kurtosis(Yn @ Dp)
        kurt_gauss = pearson_kurtosis(gauss.cpu().numpy() @ W.T)
        codes = res.codes.cpu().numpy()
        used = (codes != 0).any(0)
        kurt_codes = pearson_kurtosis(codes[:, used])
        codes_g = fista(res.dictionary, gauss, config.lam, config.code_steps).codes.cpu().numpy()  # as the training codes were made
        kurt_codes_g = pearson_kurtosis(codes_g[:, (codes_g != 0).any(0)])
        planted = np.array([1.0, 0.45 * P, 0.55 * P, 0.7, 0.15 * P, 0.25 * P, 0.2, 0.5])
        r2_planted = fit_gabor(gabor(planted, P).ravel())[0]

        med = {k: float(np.median(v)) for k, v in {"r2": r2, "r2_pca": r2p, "spread": spread, "spread_pca": spread_p, "kurtosis": kurt, "kurtosis_pca": kurt_p,
                                                  "kurtosis_gaussian": kurt_gauss, "kurtosis_lasso_codes": kurt_codes, "kurtosis_lasso_codes_gaussian": kurt_codes_g}.items()}
        for k, v in med.items():
            log.metric(f"median_{k}", v)
        log.metric("spread_null_q01", q01)
        log.metric("final_batch_objective", float(res.objective[-10:].mean()))
        log.metric("mean_nonzeros", float((codes != 0).sum(1).mean()))
        log.metric("fraction_r2_above_0.8", float((r2 > 0.8).mean()))
        log.metric("fraction_r2_pca_above_0.8", float((r2p > 0.8).mean()))
        log.info(", ".join(f"{k}={v:.4g}" for k, v in med.items()) + f", spread null q01={q01:.4g}")
        log.artifact("dictionary", patches=Y.cpu().numpy().astype(np.float32), dictionary=D, pca_atoms=Dp, pca_singular_values=svals,
                     codes=codes.astype(np.float32), objective=res.objective.cpu().numpy(), gabor_r2=r2, gabor_params=np.stack([f[1] for f in fits]),
                     gabor_r2_pca=r2p, gabor_params_pca=np.stack([f[1] for f in fits_p]), spread=spread, spread_pca=spread_p,
                     kurtosis=kurt, kurtosis_pca=kurt_p, kurtosis_gaussian=kurt_gauss)

        src = f"source = {config.source!r}"
        log.claim_greater("learned_atoms_gabor_like", f"median R^2 of a 2-D Gabor fit to the {D.shape[1]} learned atoms ({src})", med["r2"], 0.8,
                          source=SOURCE + ": the atoms resemble Gabor functions (localized, oriented, bandpass)", oracle="scipy.optimize.least_squares Gabor fit")
        log.claim_greater("gabor_fit_beats_pca", "median Gabor R^2, learned atoms minus PCA atoms", med["r2"] - med["r2_pca"], 0.0,
                          source=SOURCE + " (PCA of the same patches gives global, Fourier-like components)", oracle="numpy SVD (PCA); scipy least_squares")
        log.claim_less("learned_atoms_localized", f"median spatial spread of the learned atoms (1 = energy spread over the patch), below the 1% quantile of white-noise atoms ({q01:.3f})",
                       med["spread"], q01, source=SOURCE + ": localized receptive fields", oracle=f"Monte Carlo null, {config.null_draws} white-noise atoms")
        log.claim_less("localized_vs_pca", f"median spatial spread, learned atoms, below PCA's ({med['spread_pca']:.3f})", med["spread"], med["spread_pca"],
                       source=SOURCE, oracle="numpy SVD (PCA)")
        log.claim_greater("responses_heavy_tailed", "median kurtosis of the learned atoms' linear responses pinv(D) y over the patches, above the Laplacian's 6 (Gaussian: 3)",
                          med["kurtosis"], 6.0, source=SOURCE + ": sparse, heavy-tailed coefficient distributions", oracle="scipy.stats.kurtosis")
        se = (24 / config.num_patches) ** 0.5
        log.claim_between("gaussian_responses_kurtosis_three", f"median kurtosis of the same responses to Gaussian patches of the same covariance: 3 +- 5 x sqrt(24/N) = {5 * se:.3f}",
                          med["kurtosis_gaussian"], 3 - 5 * se, 3 + 5 * se, source="linear functionals of a Gaussian are Gaussian (kurtosis 3)",
                          oracle="scipy.stats.kurtosis", kind="check")
        log.claim_greater("gabor_fit_recovers_planted", "R^2 of the Gabor fitter on a known Gabor atom", r2_planted, 0.999, source="construction",
                          oracle="scipy.optimize.least_squares", kind="check")
        self._figure(log, D, Dp, kurt, kurt_p, kurt_gauss, r2, r2p)

    @staticmethod
    def _figure(log: RunLog, D, Dp, kurt, kurt_p, kurt_gauss, r2, r2p) -> None:
        cols = int(np.ceil(np.sqrt(D.shape[1])))
        fig, axes = figure(4, 1, width=3.6, height=3.6)
        for ax, A, name in ((axes[0], D, "learned (sparse coding)"), (axes[1], Dp, "PCA")):
            ax.imshow(atom_grid(A, cols), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set(title=f"{name} atoms", xticks=[], yticks=[])
        ax = axes[2]
        bins = np.linspace(0, max(float(np.quantile(kurt, 0.98)), 8.0), 40)
        ax.hist(np.clip(kurt, None, bins[-1]), bins=bins, color=PALETTE[0], alpha=0.7, label="learned, image patches")
        ax.hist(np.clip(kurt_p, None, bins[-1]), bins=bins, color=PALETTE[1], alpha=0.5, label="PCA, image patches")
        ax.hist(np.clip(kurt_gauss, None, bins[-1]), bins=bins, color=PALETTE[2], alpha=0.5, label="learned, Gaussian patches")
        ax.axvline(3, **THEORY, label="Gaussian (3)")
        ax.axvline(6, color="black", linestyle=":", label="Laplacian (6)")
        ax.set(xlabel="kurtosis of the linear responses", ylabel="atoms", title="Response kurtosis")
        ax.legend(fontsize=7)
        ax = axes[3]
        b = np.linspace(min(float(r2.min()), float(r2p.min()), 0.0), 1, 30)
        ax.hist(r2, bins=b, color=PALETTE[0], alpha=0.7, label="learned")
        ax.hist(r2p, bins=b, color=PALETTE[1], alpha=0.5, label="PCA")
        ax.axvline(0.8, **THEORY, label="0.8")
        ax.set(xlabel="Gabor fit R^2", ylabel="atoms", title="Gabor fit quality")
        ax.legend(fontsize=7)
        log.figure("atoms_and_kurtosis", fig)
