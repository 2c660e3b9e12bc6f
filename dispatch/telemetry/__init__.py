"""Telemetry alarms from elevator terminals (issue 7): signed device API, code table, rules."""
