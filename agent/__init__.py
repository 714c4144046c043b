"""viva's UI-free core: bank, grading, speech, demos, interview flow and history."""

__version__ = "0.1.0"
