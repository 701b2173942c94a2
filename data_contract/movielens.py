"""MovieLens 100K (GroupLens) in the data contract.

Items: text field `title`, tag field `genres`, numeric `year` (of the release
date). Users: categorical `gender` and `occupation`, numeric `age`; the zip code
is dropped. The licence forbids redistribution, so the archive is downloaded
from GroupLens, never shipped.
"""
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from typing import Optional

import numpy as np
import pandas as pd

from data_contract import contract
from data_contract.contract import Dataset, LoadReport
from data_contract.csv_files import Table, read_table
from data_contract.errors import DataError, DownloadError
from models import features

NAME = "movielens-100k"
NUM_INTERACTIONS_100K = 100_000
ML_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# As recorded by TensorFlow Datasets (tensorflow_datasets/url_checksums/movielens.txt),
# together with the size 4924029 bytes.
ML_100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
DEFAULT_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "tfx-unirec")
_FOLDER = "ml-100k"
_DOWNLOAD_TIMEOUT_SECONDS = 60

_RATINGS_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_ITEM_COLUMNS = ("movie_id", "title", "release_date", "video_release_date", "imdb_url")
_USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_code")
_RELEASE_DATE = r"^\d{1,2}-[A-Za-z]{3}-(\d{4})$"  # e.g. 01-Jan-1995


def load_100k(data_dir: Optional[str] = None, on_bad_row: str = "error",
              url: str = ML_100K_URL, cache_dir: Optional[str] = None) -> Dataset:
    """Loads the extracted GroupLens folder `data_dir`, or downloads it when None."""
    contract.check_on_bad_row(on_bad_row)
    if data_dir is None:
        data_dir = download_100k(url, cache_dir)
    report = LoadReport()

    def table(file_name: str, columns, delimiter: str = "|", encoding: str = "utf-8") -> Table:
        return read_table(os.path.join(data_dir, file_name), file_name, report, on_bad_row,
                          delimiter=delimiter, encoding=encoding, column_names=columns,
                          quoted=False)

    genres = _genre_names(table("u.genre", ("genre", "index")))
    items = _items(table("u.item", _ITEM_COLUMNS + genres, encoding="latin-1"), genres, report)
    users = _users(table("u.user", _USER_COLUMNS), report)
    interactions = _ratings(table("u.data", _RATINGS_COLUMNS, delimiter="\t"), items, users)
    return Dataset(name=NAME, interactions=interactions, items=items, users=users,
                   item_text_fields=("title",), item_tag_fields=("genres",),
                   item_numeric_fields=("year",),
                   user_categorical_fields=("gender", "occupation"),
                   user_numeric_fields=("age",), report=report)


def _genre_names(table: Table) -> tuple:
    names = table.stripped("genre")
    order = table.integers("index", "an integer genre index")
    keep = table.good_rows()
    if not keep.any():
        raise DataError(table.name, 1, "genre", "genre names like 'Action|1'", "no genres")
    return tuple(names[keep][np.argsort(order[keep], kind="stable")])


def _items(table: Table, genres: tuple, report: LoadReport) -> pd.DataFrame:
    ids = table.ids("movie_id")
    dates = pd.Series(table.stripped("release_date"))
    years = pd.to_numeric(dates.str.extract(_RELEASE_DATE, expand=False)).to_numpy(np.float64)
    table.mark_bad((dates != "").to_numpy() & np.isnan(years), "release_date",
                   "unparsable release_date", "a date like 01-Jan-1995", dates.to_numpy())
    flags = []
    for genre in genres:
        values = table.stripped(genre)
        table.mark_bad((values != "0") & (values != "1"), genre, f"unparsable {genre}",
                       "a 0/1 flag", values)
        flags.append(values == "1")
    table.mark_duplicates("movie_id", ids)
    keep = table.good_rows()

    genre_flags = np.stack(flags, axis=1)[keep]
    return pd.DataFrame({
        features.ITEM_ID: ids[keep],
        "title": table.strings("title")[keep],
        "genres": [[genres[i] for i in np.flatnonzero(row)] for row in genre_flags],
        "year": contract.impute_median(years[keep], "year", report.file(table.name)),
    })


def _users(table: Table, report: LoadReport) -> pd.DataFrame:
    ids = table.ids("user_id")
    ages = table.numbers("age", required=False)
    table.mark_duplicates("user_id", ids, personal=True)
    keep = table.good_rows()
    return pd.DataFrame({
        features.USER_ID: ids[keep],
        "gender": table.stripped("gender")[keep],
        "occupation": table.stripped("occupation")[keep],
        "age": contract.impute_median(ages[keep], "age", report.file(table.name)),
    })


def _ratings(table: Table, items: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    user_ids, item_ids = table.ids("user_id"), table.ids("item_id")
    ratings = table.numbers("rating", required=True)
    timestamps = table.integers("timestamp", "an integer timestamp (seconds since the epoch)")
    table.mark_unknown("item_id", item_ids, items[features.ITEM_ID], "u.item")
    table.mark_unknown("user_id", user_ids, users[features.USER_ID], "u.user", personal=True)
    keep = table.good_rows()
    return contract.interactions_frame(user_ids[keep], item_ids[keep], timestamps[keep],
                                       ratings[keep])


def download_100k(url: str = ML_100K_URL, cache_dir: Optional[str] = None) -> str:
    """Downloads, verifies and extracts the archive once; returns the extracted folder."""
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    target = os.path.join(cache_dir, _FOLDER)
    if os.path.isdir(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        archive = os.path.join(scratch, "ml-100k.zip")
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response, \
                    open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"Could not download MovieLens 100K from {url}: {error}. Without network "
                f"access, fetch and extract that archive elsewhere and pass --data-dir DIR, "
                f"DIR being the extracted GroupLens folder (with u.data, u.item, u.user)."
            ) from error
        digest = _sha256(archive)
        if digest != ML_100K_SHA256:
            raise DownloadError(
                f"The file downloaded from {url} has SHA-256 {digest}, expected "
                f"{ML_100K_SHA256}. Pass --data-dir DIR with the extracted GroupLens folder "
                f"instead.")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(scratch)
        # Renaming the complete folder keeps an interrupted run from leaving half a dataset.
        os.replace(os.path.join(scratch, _FOLDER), target)
    return target


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
