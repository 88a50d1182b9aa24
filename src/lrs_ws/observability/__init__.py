"""What the running service tells its operators: the one log line and metrics of every request
(`requests`), structured logging (`logs`) and the Prometheus metrics and their `/metrics` endpoint
(`metrics`). Every layer may use this package; it uses none of them."""
