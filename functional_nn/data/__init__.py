"""Datasets: IDX files, a registry of MNIST-style datasets, verified downloads, loaders."""

from .datasets import Dataset as Dataset
from .datasets import channels_last as channels_last
from .datasets import dataset_dir as dataset_dir
from .datasets import default_data_dir as default_data_dir
from .datasets import flatten_images as flatten_images
from .datasets import load_dataset as load_dataset
from .datasets import one_hot as one_hot
from .datasets import validate_dataset as validate_dataset
from .download import DownloadError as DownloadError
from .download import ProgressFn as ProgressFn
from .idx import DatasetError as DatasetError
from .idx import read_idx as read_idx
from .idx import write_idx as write_idx
from .registry import DATASETS as DATASETS
from .registry import Checksum as Checksum
from .registry import ChecksumError as ChecksumError
from .registry import DataFile as DataFile
from .registry import DatasetSpec as DatasetSpec
from .registry import get_dataset as get_dataset
from .registry import register_dataset as register_dataset

__all__ = [
    "DATASETS",
    "Checksum",
    "ChecksumError",
    "DataFile",
    "Dataset",
    "DatasetError",
    "DatasetSpec",
    "DownloadError",
    "ProgressFn",
    "channels_last",
    "dataset_dir",
    "default_data_dir",
    "flatten_images",
    "get_dataset",
    "load_dataset",
    "one_hot",
    "read_idx",
    "register_dataset",
    "validate_dataset",
    "write_idx",
]
