"""SOAP interface: Spyne types, services, fault mapping and request hardening."""
