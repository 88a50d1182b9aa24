"""Use cases: one function each, keyword-only arguments, run inside a unit of work."""
