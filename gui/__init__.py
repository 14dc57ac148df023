"""The desktop part of the plugin: the WIT explorer dock and what opens it. Never loaded by qgis_process."""
