"""Open Inference Protocol V2 (KServe, Triton, MLServer): tensors in and out.

Inputs are one tensor per feature (shape ``[n]`` or ``[n, 1]``, named by the
feature; MLServer's ``content_type: pd`` means the same) or one 2-D tensor
``[n, features]`` in signature order when every feature is a number. Both can
come as JSON ``data`` or through the binary tensor data extension: a JSON
header of ``Inference-Header-Content-Length`` bytes followed by each tensor's
raw bytes (``parameters.binary_data_size``), as ``tritonclient.http`` sends by
default. Outputs are one tensor per output column; they are binary when the
request asks for it (``binary_data`` per output, or ``binary_data_output``).
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from ..errors import RequestError
from ._http import json_body
from ._model import ServedModel, v2_datatype
from ._signature import Checked, shown

__all__ = ["decode_request", "encode_response", "model_metadata"]

_NUMPY = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_MAX_ID = 256


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the signature as tensors of any number of rows."""
    outputs = []
    for out in model.outputs:
        shape = [-1, *out.get("shape", [])]
        datatype = "FP64" if out["type"] in ("double", "list<double>") else v2_datatype(out["type"])
        outputs.append({"name": out["name"], "datatype": datatype, "shape": shape})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"shipyard-{model.framework}",
        "inputs": [
            {
                "name": f["name"],
                "datatype": v2_datatype(f["type"]),
                "shape": [-1],
                "parameters": {"nullable": bool(f.get("nullable", True))},
            }
            for f in model.bundle.input_signature
        ],
        "outputs": outputs,
    }


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError("a tensor's 'data' must be a JSON array")
    if not data or not isinstance(data[0], list):
        return data
    flat: list[Any] = []
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        else:
            flat.append(value)
    return flat


def _bytes_elements(raw: memoryview, count: int, name: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise RequestError(f"input {shown(name)}: truncated BYTES element")
        (size,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + size > len(raw):
            raise RequestError(f"input {shown(name)}: truncated BYTES element")
        try:
            out.append(bytes(raw[pos : pos + size]).decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"input {shown(name)}: a BYTES element is not UTF-8") from None
        pos += size
    if len(out) != count:
        raise RequestError(f"input {shown(name)}: {len(out)} BYTES elements for shape of {count}")
    return out


def _tensor(tensor: Any, binary: memoryview | None) -> tuple[str, list[int], Any]:
    """One input tensor: its name, shape and values (a NumPy array or a list)."""
    if not isinstance(tensor, dict):
        raise RequestError("each input must be a JSON object with name, shape, datatype, data")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str):
        raise RequestError("an input has no 'name' string")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise RequestError(f"input {shown(name)}: 'shape' must be [rows] or [rows, columns]")
    if not isinstance(datatype, str) or (datatype != "BYTES" and datatype not in _NUMPY):
        raise RequestError(f"input {shown(name)}: unsupported datatype {shown(datatype)}")
    count = math.prod(shape)
    if binary is not None:
        if datatype == "BYTES":
            return name, shape, _bytes_elements(binary, count, name)
        dtype = _NUMPY[datatype]
        if len(binary) != count * dtype.itemsize:
            raise RequestError(
                f"input {shown(name)}: {len(binary)} bytes of binary data for shape {shape}"
                f" of {datatype}"
            )
        return name, shape, np.frombuffer(binary, dtype=dtype)
    if "data" not in tensor:
        raise RequestError(f"input {shown(name)} has no 'data' (nor binary_data_size)")
    flat = _flatten(tensor["data"])
    if len(flat) != count:
        raise RequestError(f"input {shown(name)}: {len(flat)} values for shape {shape}")
    if datatype == "BOOL":
        if not all(type(v) is bool or v is None for v in flat):
            raise RequestError(f"input {shown(name)}: BOOL data must be true or false")
    elif datatype == "BYTES":
        if not all(type(v) is str or v is None for v in flat):
            raise RequestError(f"input {shown(name)}: BYTES data must be strings")
    elif not all(type(v) in (int, float) or v is None for v in flat):
        raise RequestError(f"input {shown(name)}: {datatype} data must be numbers")
    return name, shape, flat


def _split_binary(header: dict[str, Any], payload: memoryview) -> list[memoryview | None]:
    parts: list[memoryview | None] = []
    pos = 0
    for tensor in header["inputs"]:
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            parts.append(None)
            continue
        if type(size) is not int or size < 0 or pos + size > len(payload):
            raise RequestError("binary_data_size does not match the binary data sent")
        parts.append(payload[pos : pos + size])
        pos += size
    if pos != len(payload):
        raise RequestError("the binary data is longer than the inputs' binary_data_size")
    return parts


def decode_request(
    model: ServedModel, body: bytes, header_length: str | None
) -> tuple[Checked, int, dict[str, Any]]:
    """Checked columns, row count, and the request's JSON header (id, outputs, parameters)."""
    view = memoryview(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise RequestError("Inference-Header-Content-Length does not fit the body")
        header = json_body(view[: int(header_length)])
        payload = view[int(header_length) :]
    else:
        header = json_body(view)
        payload = view[len(view) :]
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise RequestError("expected a JSON object with an 'inputs' list")
    request_id = header.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > _MAX_ID):
        raise RequestError(f"'id' must be a string of at most {_MAX_ID} characters")
    binaries = _split_binary(header, payload)
    tensors = [_tensor(t, b) for t, b in zip(header["inputs"], binaries, strict=True)]
    sig = model.signature
    if not tensors:
        raise RequestError("'inputs' is empty; send one tensor per feature or one 2-D tensor")
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][0] not in sig.name_set:
        name, shape, values = tensors[0]
        if shape[1] != len(sig.names):
            raise RequestError(
                f"input {shown(name)} has {shape[1]} columns; the model reads"
                f" {len(sig.names)} features"
            )
        if not sig.all_numeric:
            raise RequestError("a 2-D tensor needs numeric features; send one tensor per feature")
        if isinstance(values, list):
            if any(type(v) is str for v in values):
                raise RequestError(f"input {shown(name)}: expects numbers")
            matrix, rows = sig.matrix(values, shape[0])
        else:
            matrix = values.astype(np.float64).reshape(shape)
            sig.check_matrix(matrix)
            rows = shape[0]
        return matrix, rows, header
    data: dict[str, Any] = {}
    rows = -1
    for name, shape, values in tensors:
        if len(shape) == 2 and shape[1] != 1:
            raise RequestError(f"input {shown(name)} must have shape [rows] or [rows, 1]")
        if name in data:
            raise RequestError(f"input {shown(name)} is sent twice")
        if rows >= 0 and shape[0] != rows:
            raise RequestError(f"input {shown(name)} has {shape[0]} rows and the first {rows}")
        rows = shape[0]
        data[name] = values
    columns, rows = sig.columns(data)
    return columns, rows, header


def _wants_binary(header: dict[str, Any]) -> tuple[list[str] | None, set[str]]:
    """The outputs asked for (None: all) and those to send as binary data."""
    params = header.get("parameters")
    all_binary = isinstance(params, dict) and params.get("binary_data_output") is True
    wanted = header.get("outputs")
    if wanted is None:
        return None, {"*"} if all_binary else set()
    if not isinstance(wanted, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
    ):
        raise RequestError("'outputs' must be a list of objects with a 'name'")
    names = [o["name"] for o in wanted]
    binary = set()
    for out in wanted:
        p = out.get("parameters")
        if all_binary or (isinstance(p, dict) and p.get("binary_data") is True):
            binary.add(out["name"])
    return names, binary


def check_outputs(model: ServedModel, header: dict[str, Any]) -> None:
    """Refuse requested outputs the model does not have (before the model runs)."""
    names, _ = _wants_binary(header)
    known = [o["name"] for o in model.outputs]
    for name in names or ():
        if name not in known:
            raise RequestError(f"unknown output {shown(name)}; the model gives {known}")


def encode_response(
    model: ServedModel, table: pa.Table, header: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """The inference response: JSON, or a JSON header followed by binary tensors."""
    names, binary = _wants_binary(header)
    rows = table.num_rows
    outputs = []
    chunks: list[bytes] = []
    for name in names or table.column_names:
        column = table.column(name).combine_chunks()
        if name == "probabilities":
            k = len(model.classes)
            values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
            shape, datatype = [rows, k], "FP64"
        elif pa.types.is_integer(column.type):
            values = column.to_numpy(zero_copy_only=False)
            if column.null_count:  # a label of a NaN score: -1 in binary, null in JSON
                values = np.where(np.isnan(values), -1, values)
            values = np.asarray(values, dtype=np.int64)
            shape, datatype = [rows], "INT64"
            if column.null_count and not ("*" in binary or name in binary):
                values = column.to_pylist()
        else:
            values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            shape, datatype = [rows], "FP64"
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if "*" in binary or name in binary:
            raw = np.ascontiguousarray(values, dtype=_NUMPY[datatype]).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = values if isinstance(values, list) else values.reshape(-1)
        outputs.append(tensor)
    response: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "outputs": outputs,
    }
    if header.get("id") is not None:
        response["id"] = header["id"]
    text = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return text, {}
    return text + b"".join(chunks), {"Inference-Header-Content-Length": str(len(text))}
