"""The tools' library: the results reader, the verdict's statistics and steps, the report, the CLI kit.

Scripts in tools/ import it; it imports the suite's schema and never torch or the measuring code.
The modules that asv's bare per-commit virtualenv runs (cli, wheels) need the standard library only.
"""
