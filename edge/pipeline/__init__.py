"""Frame in, faces out: detection, following and classification (`pipeline.Pipeline`)."""
