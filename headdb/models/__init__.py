"""Models headdb builds itself: the planted ground-truth model and its random control."""
