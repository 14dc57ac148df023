"""Defaults shared by the algorithm, the engine and the documentation: one place to change them."""

DEA_WPS_URL = "https://ows.dev.dea.ga.gov.au/wps/?service=WPS&request=Execute"
PROCESS_ID = "WIT"
DEFAULT_START = "1987-01-01T00:00:00"
MAX_CONCURRENT = 2
MAX_CONCURRENT_LIMIT = 64
JOB_TIMEOUT_SECONDS = 3600
MAX_REQUEST_BYTES = 3 * 1024 * 1024
COORDINATE_DECIMALS = 7
