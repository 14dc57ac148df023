"""The QGIS boundary: geometries, transforms and QGIS's network settings as plain data for the engines."""
