"""Offline data sets, snnTorch spiking MLPs, the one training loop (``fit``), ANN<->SNN
conversion, NIR import/export, spike-exact export to the Mosaic chip IR, measurement on the
simulated chip (``measure_on_chip``) and NeuroBench metrics."""
from .datasets import Dataset, DatasetError, load_dataset, permuted_tasks, split_tasks
from .errors import ModelError
from .export import ExportError, from_network, quantize, to_network
from .neurobench import chip_metrics, model_metrics
from .nir_io import NIRError, NIRResetWarning, from_nir, to_nir, to_snntorch
from .readout import ChipResult, classify, measure_on_chip
from .snn import encode, evaluate, make_mlp, predict, run, train
from .training import FitResult, fit

__all__ = ["Dataset", "DatasetError", "load_dataset", "split_tasks", "permuted_tasks",
           "ModelError", "make_mlp", "encode", "run", "train", "evaluate", "predict",
           "ExportError", "to_network", "from_network", "quantize",
           "NIRError", "NIRResetWarning", "to_nir", "from_nir", "to_snntorch",
           "ChipResult", "measure_on_chip", "classify", "fit", "FitResult", "chip_metrics", "model_metrics"]
