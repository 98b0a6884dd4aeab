"""The static catalog site: pure page renderers, SVG heatmaps, and the mkdocs build."""
