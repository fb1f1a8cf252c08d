"""actrain: Agentic Critical Training for LLM agents on text environments."""

__version__ = "0.1.0"
