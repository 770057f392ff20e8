"""troika app: finance_monitor (built in its own issue)."""
