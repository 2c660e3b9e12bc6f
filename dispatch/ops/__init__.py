"""Operating the service (issue 18): metrics, health, structured logs, backups."""
