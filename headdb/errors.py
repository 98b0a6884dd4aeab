"""Exceptions users see, kept free of heavy imports so the CLI can catch them cheaply."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what was tried."""


class DetectJobError(RuntimeError):
    """One or more detectors failed; no scores were written."""
