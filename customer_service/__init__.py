"""troika app: customer_service (built in its own issue)."""
