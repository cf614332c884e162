"""Top-K ranking with hysteresis, alerts, and reason codes."""
