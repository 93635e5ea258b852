"""Import a script from tools/ as a module, so tests call its ``main(argv)`` in-process."""
import importlib.util
import os

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools')


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'elite_tool_{name}', os.path.join(TOOLS, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
