"""Chat turns: creating messages, running a reply through a backend, and persisting it as it streams."""
