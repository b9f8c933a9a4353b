"""The discrete-event host of the engine."""
