"""The JSON API's plumbing that every app uses: authentication, error shapes, pagination, absolute URLs,
input guards and rate limits. It imports no app (models are found by name, through settings)."""
