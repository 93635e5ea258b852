"""Describe the machine a benchmark ran on."""
import os
import platform


def machine_description() -> str:
    """CPU model and core count, for the benchmark table (docs/benchmarks.md)."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{model}, {os.cpu_count()} cores'
