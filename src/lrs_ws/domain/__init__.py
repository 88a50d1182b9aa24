"""Plain-Python domain: value objects, entities, rules and the errors they raise."""
