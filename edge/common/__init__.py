"""What every stage shares and nothing else in edge/ needs to know: errors, the CLI grammar, files, timing."""
