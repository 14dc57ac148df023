"""WIT Dispatcher engine: Processing provider, WPS protocol, HTTP client and dispatcher."""
