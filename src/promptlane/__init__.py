"""promptlane: a git repository as the system of record for LLM prompts."""

__version__ = "0.1.0"
