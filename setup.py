"""tfx-unirec: one TFX pipeline for collaborative, content-based and hybrid recommenders."""
import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent


def _requirements():
    """What tfx-unirec asks for: requirements.txt's first part (the rest is their resolved closure)."""
    requested = (_HERE / "requirements.txt").read_text().split("\n# Resolved:", 1)[0]
    pins = (line.split("#", 1)[0].strip() for line in requested.splitlines())
    return [pin for pin in pins if pin]


setuptools.setup(
    name="tfx-unirec",
    version="0.1.0",
    description="Unified recommender framework on TFX, TFRS and a Keras BERT encoder",
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.11",
    packages=setuptools.find_packages(
        include=["pipeline*", "components*", "data_contract*", "models*", "serving*"]),
    package_data={"pipeline": ["configs/*.yaml"]},
    install_requires=_requirements(),
    entry_points={"console_scripts": ["unirec=pipeline.cli:main"]},
)
