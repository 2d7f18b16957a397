"""Map the source folders to import names: core/ -> crmhub.core, plugins/ -> crmhub.plugins."""

from setuptools import find_packages, setup

FOLDERS = {"crmhub.core": "core", "crmhub.plugins": "plugins"}

packages = [
    f"{name}{found[len(folder):]}"
    for name, folder in FOLDERS.items()
    for found in find_packages(include=[folder, f"{folder}.*"])
]

setup(packages=packages)
