"""Map the three top-level folders into the namespace package ``ganforge``.

pyproject.toml holds the metadata; this file only computes the package list, so a new
sub-package (a fifth modality, a sixth host) needs no packaging edit.
"""

from setuptools import find_packages, setup

ROOTS = {"core": "ganforge.core", "exporters": "ganforge.exporters", "plugins": "ganforge.plugins"}

packages, package_dir = [], {}
for folder, namespace in ROOTS.items():
    packages.append(namespace)
    package_dir[namespace] = folder
    for sub in find_packages(folder):
        packages.append(f"{namespace}.{sub}")
        package_dir[f"{namespace}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    # Host-side files travel inside the wheel: the Blender manifest, and the editor clients that
    # `ganforge lsp` serves (Neovim's Lua module, the VS Code extension's sources), which sit in
    # folders that are not Python packages and so are named one by one (no node_modules).
    package_data={
        **{name: ["*.toml", "*.lua", "*.json", "*.js", "*.md", "*.png"] for name in packages},
        "ganforge.plugins.editor": ["*.md", "nvim/lua/ganforge/*.lua", "vscode/package.json",
                                    "vscode/package-lock.json", "vscode/tsconfig.json", "vscode/src/*.ts"],
    },
)
