"""Developer tools: plugin packaging, qgis_process helpers and the demo."""
