"""Dataset adapters: every source becomes one Dataset in the data contract."""
from components.datasets.contract import Dataset, LoadReport
from components.datasets.errors import ContractError, DataError, DownloadError
from components.datasets.registry import KNOWN_DATASETS, load_dataset

__all__ = ["Dataset", "LoadReport", "ContractError", "DataError", "DownloadError",
           "KNOWN_DATASETS", "load_dataset"]
