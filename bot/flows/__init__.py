"""Conversation flows and commands of the chat core (one module per area)."""
