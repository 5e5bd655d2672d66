// Placeholder; replaced by the symbolizer.
