"""Detector validation: every detector against the ground-truth zoo (``headdb validate-detectors``)."""
