"""Processing algorithms of the WIT Dispatcher provider."""
