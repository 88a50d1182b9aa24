"""SQLAlchemy 2.x persistence: tables, mapping, repositories, unit of work."""
