"""Generation jobs."""
