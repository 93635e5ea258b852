"""Speed and memory measurements behind ``tools/benchmark.py`` (one module per subcommand)."""
