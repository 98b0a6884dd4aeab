"""The queries behind ``HeadDB``, one module per area, each a set of functions over a session:

- ``names``: resolving head-type, model and stage names by indexed lookups;
- ``latest``: the one definition of "the newest run";
- ``catalog``: papers, head types, claims;
- ``detections``: labels, scores, runs, agreement;
- ``training``: scores and labels of one model's heads over its training steps.
"""
