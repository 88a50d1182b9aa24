"""Reports built from the service's data (the weekly EDC report)."""
