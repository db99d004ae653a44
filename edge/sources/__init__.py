"""Where frames come from: `base.open_source` picks one of the modules here from a `--source` spec."""
