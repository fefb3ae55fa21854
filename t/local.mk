# Daemon-level tests (TAP scripts run against the real crispd).
