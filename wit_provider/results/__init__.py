"""The results engine, without QGIS: fetching parquet from S3 or HTTP, reading it, statistics, metrics, plots."""
