"""Packaging hook: ship the shared JSON Schemas inside the installed package. The repo keeps one
copy of them, in contracts/schemas; the extension and the trainer in the repo read that one."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithSchemas(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent.parent / "contracts" / "schemas"
        schemas = sorted(source.glob("*.json"))  # the schemas and the table of moved config fields
        if not schemas:
            raise SystemExit(f"no schemas in {source}: build the trainer from a BOND Studio checkout")
        target = Path(self.build_lib) / "bond_trainer" / "schemas"
        target.mkdir(parents=True, exist_ok=True)
        for schema in schemas:
            shutil.copy(schema, target / schema.name)


setup(cmdclass={"build_py": BuildWithSchemas})
