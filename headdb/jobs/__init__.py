"""Detector jobs: load a model, run detectors, store runs, scores and labels."""
