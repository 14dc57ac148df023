"""The dispatch engine, without QGIS: WPS wire format, HTTP client, worker pool, polling, journal, job times."""
