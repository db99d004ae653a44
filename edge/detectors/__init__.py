"""Face detectors (one module each, named in `registry`), window re-detection and the detection worker thread."""
