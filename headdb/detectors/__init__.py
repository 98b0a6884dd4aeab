"""Detectors: one module per detector, all behind ``headdb.detectors.base.Detector``.

Importing this package registers every detector in ``REGISTRY`` (name -> class).
"""

from headdb.detectors import (  # noqa: F401  (imported to register)
    duplicate_token,
    induction,
    mover,
    name_mover,
    previous_token,
    relation,
    s_inhibition,
    successor,
)
from headdb.detectors.base import REGISTRY, Detector, DetectorMetadata, HeadTypeScores, get_detector
from headdb.detectors.context import ModelContext

__all__ = ["REGISTRY", "Detector", "DetectorMetadata", "HeadTypeScores", "ModelContext", "get_detector"]
