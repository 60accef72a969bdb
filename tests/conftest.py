"""Test configuration of the package and structure tests (the chapter budget under nbval is
enforced by the repository's root conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # tools/chapters.py is imported by the chapter tests
