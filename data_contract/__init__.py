"""The data contract and the adapters that produce it.

Every source (the synthetic catalogue, MovieLens 100K, CSV files) becomes one
`Dataset` of interactions, items and users (contract.py says what each holds);
everything downstream reads only that. Not a TFX component: UnirecExampleGen
(components/example_gen) calls `load_dataset`.
"""
from data_contract.adapters import KNOWN_DATASETS, load_dataset
from data_contract.contract import Dataset, LoadReport
from data_contract.errors import ContractError, DataError, DownloadError

__all__ = ["Dataset", "LoadReport", "ContractError", "DataError", "DownloadError",
           "KNOWN_DATASETS", "load_dataset"]
