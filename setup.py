"""Package list for the one import package ``archsim`` (metadata lives in pyproject.toml).

The folders ``kernels/``, ``dataflows/`` and ``rtl/`` sit at the top of the repository and
install as ``archsim.kernels``, ``archsim.dataflows`` and ``archsim.rtl`` (package-dir in
pyproject.toml); this file only enumerates the sub-packages of each folder.
"""

from setuptools import find_packages, setup

ROOTS = {"archsim": "archsim", "archsim.kernels": "kernels", "archsim.dataflows": "dataflows", "archsim.rtl": "rtl",
         "archsim.campaigns": "campaigns"}


def _packages() -> list[str]:
    return sorted(name + suffix for name, folder in ROOTS.items()
                  for suffix in ["", *[f".{sub}" for sub in find_packages(folder)]])


setup(packages=_packages())
