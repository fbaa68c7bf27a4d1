"""Reads a PyTorch `pytorch_model.bin` (torch.save zip format) into numpy without running pickle code.

The pickle inside a torch checkpoint only describes tensors: a dict of
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls whose storages are raw
files in the zip. `_RestrictedUnpickler` resolves exactly those globals to local functions that
build numpy arrays, and refuses every other global, so a malicious file cannot execute anything.
"""

import collections
import pickle
import zipfile

import numpy as np

from keras_bert_kit.errors import UserError

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name

    @property
    def dtype(self):
        dtype = _STORAGE_DTYPES[self.name]
        if dtype == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(dtype)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused_args):
    if not size:
        return storage[storage_offset].copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
    return np.array(view)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *unused_args):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix, source):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._source = source
        self._storages = {}

    def find_class(self, module, name):
        if (module, name) == ("torch", "UntypedStorage"):
            return _StorageType("ByteStorage")
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._source}: refusing to load global {module}.{name}; only tensor data is "
                "read from pytorch_model.bin") from None

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"{self._source}: unexpected persistent id {pid!r}")
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            self._storages[key] = np.frombuffer(raw, dtype=storage_type.dtype)
        return self._storages[key]


def load_torch_state_dict(path):
    """Returns `{name: np.ndarray}` from a `torch.save` zip file, executing no pickle code.

    Args:
        path: a `pytorch_model.bin` written by torch ≥ 1.6 (zip format).
    """
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(2) == b"PK":
                raise UserError(f"{path}: the zip archive is truncated or corrupt (no central "
                                "directory); download or save it again")
        raise UserError(
            f"{path}: not a torch zip checkpoint (the legacy pre-1.6 format is not supported; "
            "re-save it with torch ≥ 1.6 or convert it to safetensors)")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise UserError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        with archive.open(pickles[0]) as f:
            state = _RestrictedUnpickler(f, archive, prefix, path).load()
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a state dict, found {type(state).__name__}")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
