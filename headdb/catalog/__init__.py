"""The catalog's files: paper entries under papers/, the taxonomy and model registry in data/."""
