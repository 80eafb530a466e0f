import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DLTHEORY_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).parent))

import dummy_experiments  # noqa: E402,F401  (registers testing/* experiments)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"
