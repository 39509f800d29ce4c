"""The Server tab: the local OpenAI-compatible API's settings, how to reach it, and its request log."""
