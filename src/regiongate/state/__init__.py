"""State that gateway processes share (in Redis): what no single process can know alone."""
