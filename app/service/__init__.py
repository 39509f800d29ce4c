"""The engine service (`hearth serve`): the process that owns the loaded model and serves the window and any
OpenAI client over loopback HTTP. Nothing here imports Qt."""
