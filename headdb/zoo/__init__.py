"""The ground-truth zoo: trained, planted and control models whose heads' roles are known."""

from headdb.zoo.registry import ZOO, ZooSpec, build, default_cache, read_ground_truth, selected

__all__ = ["ZOO", "ZooSpec", "build", "default_cache", "read_ground_truth", "selected"]
