"""Where a run's results go: every output is a `base.Sink` that the run loop feeds alike."""
