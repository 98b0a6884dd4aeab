"""headdb: an attention-head taxonomy database and catalog.

The literature's claims about specialised attention heads, detector jobs that label every head of
a model, and a static site rendered from the database. Start with ``HeadDB``::

    from headdb import HeadDB
    db = HeadDB()
    db.papers(head_type="successor")
"""

from headdb.api import HeadDB, UnknownNameError
from headdb.results import ClaimInfo, HeadTypeInfo, LabelInfo, ModelInfo, PaperInfo, RunInfo

__version__ = "0.1.0"

__all__ = [
    "ClaimInfo",
    "HeadDB",
    "HeadTypeInfo",
    "LabelInfo",
    "ModelInfo",
    "PaperInfo",
    "RunInfo",
    "UnknownNameError",
    "__version__",
]
