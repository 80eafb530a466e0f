import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DLTHEORY_PROGRESS", "0")

if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n N`: share the CPUs among the workers instead of oversubscribing them
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
sys.path.insert(0, str(Path(__file__).parent))

import dummy_experiments  # noqa: E402,F401  (registers testing/* experiments)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"
