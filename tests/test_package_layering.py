"""The package's layers import downwards only: file formats and constants at the bottom, the data
pipeline never importing model code, no import cycle between subpackages. Read from the source (ast), so it
checks the modules themselves rather than what ``import elite`` happens to have loaded."""
import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'projects', 'ELiTe', 'elite')
# what each part of the package may import from the others (leaf modules: sam_specs, sam_checkpoints)
ALLOWED = {
    'datasets': {'sam_specs'},
    'models': {'datasets', 'sam_specs', 'sam_checkpoints'},
    'pseudo_labels': {'datasets', 'sam_specs', 'sam_checkpoints'},
    'evaluation': {'datasets'},
    'visualization': {'datasets', 'sam_specs'},
    'engine': {'datasets', 'models', 'evaluation', 'visualization'},
    'benchmark': {'datasets', 'models', 'pseudo_labels', 'engine'},
}


def internal_imports(path: str, part: str):
    """The top-level parts of ``elite`` that the module at ``path`` (inside ``part``) imports."""
    module_parts = os.path.relpath(path, PACKAGE)[:-3].split(os.sep)
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module_parts[:len(module_parts) - node.level]
            target = base + (node.module.split('.') if node.module else [])
            if target:
                yield target[0]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or '']
            for name in names:
                if name.startswith('elite.'):
                    yield name.split('.')[1]


def test_subpackages_import_downwards_only():
    found = []
    for part in ALLOWED:
        for folder, _, files in os.walk(os.path.join(PACKAGE, part)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(folder, name)
                    for target in internal_imports(path, part):
                        if target != part and target not in ALLOWED[part]:
                            found.append(f'{os.path.relpath(path, PACKAGE)} imports elite.{target}')
    assert found == []
