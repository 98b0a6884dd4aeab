"""Detectors: one module per detector, all behind ``headdb.detectors.base.Detector``.

Importing this package registers every detector in ``REGISTRY`` (name -> class).
"""

from headdb.detectors import (  # noqa: F401  (imported to register)
    circuit_ioi,
    circuit_mover,
    circuit_relation,
    duplicate_token,
    induction,
    mover,
    name_mover,
    previous_token,
    relation,
    s_inhibition,
    successor,
)
from headdb.detectors.base import REGISTRY, Detector, DetectorMetadata, HeadTypeScores, default_suite, get_detector
from headdb.detectors.context import ModelContext

__all__ = ["REGISTRY", "Detector", "DetectorMetadata", "HeadTypeScores", "ModelContext", "default_suite", "get_detector"]
