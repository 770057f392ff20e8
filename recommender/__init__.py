"""troika app: recommender (built in its own issue)."""
