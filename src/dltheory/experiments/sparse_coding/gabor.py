r"""Receptive-field statistics of square atoms: a 2-D Gabor fit (scipy least squares), the spatial spread, kurtosis.

- :func:`gabor`: :math:`g(x, y) = A\,e^{-x_r^2/(2\sigma_x^2) - y_r^2/(2\sigma_y^2)}\cos(2\pi f x_r + \varphi)`
  with :math:`(x_r, y_r)` the pixel offsets from the center :math:`(x_0, y_0)` rotated by :math:`\theta`
  (Jones & Palmer, J. Neurophysiol. 58(6), 1987: simple-cell receptive fields are fit by such Gabors).
- :func:`fit_gabor`: :func:`scipy.optimize.least_squares` (Levenberg-Marquardt, analytic Jacobian)
  from the atom's energy centroid and its Fourier peak (frequency, orientation, phase);
  quality :math:`R^2 = 1 - \|a - g\|^2 / \|a - \bar a\|^2`.
- :func:`spatial_spread`: the RMS distance of the atom's energy :math:`a^2/\|a\|^2` from its centroid,
  relative to that of energy spread evenly over the patch, :math:`\sqrt{2(P^2 - 1)/12}`: about 1 for a
  global atom (plane wave, white noise), smaller for a localized one. Model-free (no fit).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares


def _grid(P: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:P, 0:P].astype(float)
    return xx, yy


def gabor(params: np.ndarray, P: int) -> np.ndarray:
    """The Gabor with params (A, x0, y0, theta, sigma_x, sigma_y, f, phi) on a P x P grid (pixels, cycles/pixel)."""
    return _gabor_and_jacobian(np.asarray(params, dtype=float), *_grid(P))[0]


def _gabor_and_jacobian(p: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A, x0, y0, th, sx, sy, fr, ph = p
    c, s = np.cos(th), np.sin(th)
    dx, dy = xx - x0, yy - y0
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    E = np.exp(-xr**2 / (2 * sx**2) - yr**2 / (2 * sy**2))
    arg = 2 * np.pi * fr * xr + ph
    C, S = np.cos(arg), np.sin(arg)
    g = A * E * C
    d_xr = A * E * (-xr / sx**2 * C - 2 * np.pi * fr * S)  # dg/dx_r
    d_yr = -A * E * yr / sy**2 * C  # dg/dy_r
    J = np.stack([E * C, -c * d_xr + s * d_yr, -s * d_xr - c * d_yr, yr * d_xr - xr * d_yr,
                  g * xr**2 / sx**3, g * yr**2 / sy**3, -A * E * S * 2 * np.pi * xr, -A * E * S], axis=-1)
    return g, J.reshape(-1, 8)


def fit_gabor(atom: np.ndarray, *, max_nfev: int = 100) -> tuple[float, np.ndarray]:
    """Best 2-D Gabor fit of a P x P atom (given flat, P*P): (R^2, params (A, x0, y0, theta, sigma_x, sigma_y, f, phi)).

    One Levenberg-Marquardt run (at most ``max_nfev`` evaluations) from the atom's energy centroid,
    its Fourier peak (frequency, orientation, and the phase of that coefficient), amplitude max|a|
    and width P/5.
    """
    P = int(round(np.sqrt(atom.size)))
    a = np.asarray(atom, dtype=float).reshape(P, P)
    xx, yy = _grid(P)
    M = 4 * P  # zero-padded FFT: frequency resolution 1/(4P) cycles/pixel
    F = np.fft.fft2(a, s=(M, M))
    ky, kx = np.unravel_index(np.argmax(np.abs(F)), F.shape)
    fy, fx = np.fft.fftfreq(M)[ky], np.fft.fftfreq(M)[kx]
    e = a**2 / max((a**2).sum(), 1e-300)
    cx, cy = (e * xx).sum(), (e * yy).sum()
    phase = np.angle(F[ky, kx]) + 2 * np.pi * (fx * cx + fy * cy)  # a ~ cos(2 pi k.(x - c) + phase)
    sst = ((a - a.mean()) ** 2).sum()
    target = a.ravel()
    cache: dict = {}

    def both(p):
        key = p.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _gabor_and_jacobian(p, xx, yy)
        return cache[key]

    p0 = np.array([np.abs(a).max(), cx, cy, np.arctan2(fy, fx), P / 5, P / 5, max(np.hypot(fx, fy), 1 / M), phase])
    r = least_squares(lambda p: both(p)[0].ravel() - target, p0, jac=lambda p: both(p)[1], method="lm", max_nfev=max_nfev)
    return float(1 - 2 * r.cost / sst) if sst > 0 else 0.0, r.x


def spatial_spread(atoms: np.ndarray) -> np.ndarray:
    """RMS radius of each atom's energy about its centroid over that of a uniform patch; atoms (P*P, m) -> (m,)."""
    P = int(round(np.sqrt(atoms.shape[0])))
    xx, yy = (g.ravel()[:, None] for g in _grid(P))
    e = atoms**2 / (atoms**2).sum(0, keepdims=True)
    cx, cy = (e * xx).sum(0), (e * yy).sum(0)
    return np.sqrt((e * ((xx - cx) ** 2 + (yy - cy) ** 2)).sum(0)) / np.sqrt(2 * (P * P - 1) / 12)
