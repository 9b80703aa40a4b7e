"""Cross-cutting conventions: logging, seeding, run directories, progress bars, typed configs."""
