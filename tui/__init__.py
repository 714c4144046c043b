"""viva's Textual app. Only this package imports Textual; the core lives in agent/."""
