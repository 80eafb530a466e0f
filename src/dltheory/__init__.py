"""dltheory: a laboratory for deep learning theory.

Probes (curvature, margins, spectra, ...) work on any ``torch.nn.Module`` with a loss and
data; experiments reproduce key papers of the course and check them against independent
oracles. See the README for a tour.
"""

__version__ = "0.1.0"
