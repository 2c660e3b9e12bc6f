"""Hardening (issue 12): request limits and input screening, login throttling, origin checks,
database-outage answers, and the problem+json declarations of the OpenAPI document."""
