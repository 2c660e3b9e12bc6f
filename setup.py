"""Ships the migrations and the fixture data inside the wheel (``dispatch/_data/``).

Everything else is in ``pyproject.toml``; this only exists because setuptools has no
declarative way to put two top-level folders of the repository under a package.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ("alembic", "fixtures")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        target = Path(self.build_lib) / "dispatch" / "_data"
        for name in DATA:
            shutil.copytree(name, target / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
