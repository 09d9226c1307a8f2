"""SLI sources: where the event increments come from (see ``base``)."""
