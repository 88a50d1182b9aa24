"""Background work (batch jobs, e-mail delivery) and the operator's `lrs-ws` commands outside the web
service: `worker`, `batch`, `purge`, `verify`, `rules`, `mail` (the outbox) and `edc` (Business Support's
Event Data Challenges)."""
