"""The run harness: the command-line check, the config schema, run folders, jobs, resume."""
