"""SOAP interface: Spyne types, services, fault mapping and request hardening.

The Spyne types live in three modules, by whose contract they belong to:

- ``lrs_contract_types``: the real LRS ExternalService contract's types (User, Achievement, the batch job
  responses), kept name for name and element for element as the LRS has them;
- ``batch_extension_types``: this service's own additions to the batch operations (the job list, the
  validation result);
- ``portal_types``: this service's own result types for the portal's achievement, EDC and user functions.

The ``*_service`` modules hold the operations (Spyne ServiceBase classes).
"""
