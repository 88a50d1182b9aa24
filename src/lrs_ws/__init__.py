"""lrs_ws: the Learning Records Service's awarding-organisation side as SOAP web services."""

__version__ = "0.1.0"
