"""tfx-unirec: one TFX pipeline for collaborative, content-based and hybrid recommenders."""
import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent


def _requirements():
    """The exact pins live in requirements.txt only."""
    lines = (_HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


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
