"""TorchModel: a network of one of Shipyard's built-in architectures, and its materializer.

A torch model is saved as data only: ``architecture.json`` (which network, its sizes
and hyperparameters) and ``weights.safetensors`` (the ``state_dict``, with the input
and target scaling). Loading rebuilds the network from the JSON and fills in the
weights, so no pickle and no ``torch.load`` is involved, and the same weights are the
same bytes. torch itself is imported only when a model is saved, loaded or run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MaterializerError
from ..pipeline.materializers import Materializer

if TYPE_CHECKING:
    import numpy as np

    from ._torch_nets import Net

__all__ = ["TorchModel", "TorchModelMaterializer"]

_FORMAT_VERSION = 1
PREDICT_BATCH = 8192


class TorchModel:
    """A ``torch.nn.Module`` built by Shipyard, and the architecture that rebuilds it.

    Parameters
    ----------
    architecture
        JSON types: ``name`` (``mlp`` or ``resnet``), ``num_inputs``, ``num_outputs``
        and the architecture's hyperparameters.
    module
        The network (:class:`shipyard.train._torch_nets.Net`), on the CPU.
    """

    def __init__(self, architecture: dict[str, Any], module: Net) -> None:
        self.architecture = architecture
        self.module = module

    def outputs(self, X: np.ndarray, *, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """The network's raw outputs for the rows of ``X``, ``(n, num_outputs)`` float64.

        Logits for classification; values of the target for regression.
        """
        return outputs(self.module, X, batch_size=batch_size)

    def __repr__(self) -> str:
        a = self.architecture
        return f"TorchModel({a.get('name')!r}, inputs={a.get('num_inputs')}, outputs={a.get('num_outputs')})"


def outputs(module: Net, X: np.ndarray, *, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Run ``module`` in eval mode, without gradients, batch by batch on its own device.

    Returns float64 outputs on the target's scale (the scaling is the identity for
    classification, whose outputs are logits).
    """
    import numpy as np
    import torch

    was_training = module.training
    module.eval()
    device = module.y_mean.device
    parts: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                rows = np.ascontiguousarray(X[start : start + batch_size], dtype=np.float32)
                batch = torch.from_numpy(rows).to(device)
                out = module.to_target_scale(module(batch))
                parts.append(out.to("cpu", torch.float64).numpy())
    finally:
        module.train(was_training)
    if not parts:
        return np.zeros((0, module.y_mean.shape[0]), dtype=np.float64)
    return np.concatenate(parts)


class TorchModelMaterializer(Materializer):
    """``architecture.json`` plus ``weights.safetensors``; loads by rebuilding the network."""

    name = "shipyard.torch_model"
    types: ClassVar[tuple[str, ...]] = ("shipyard.TorchModel",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        state = {k: v.detach().to("cpu").contiguous() for k, v in value.module.state_dict().items()}
        save_file(state, str(folder / "weights.safetensors"))
        config = {"format": _FORMAT_VERSION, **value.architecture}
        (folder / "architecture.json").write_text(json.dumps(config, indent=1, sort_keys=True))
        return {
            "architecture": value.architecture.get("name"),
            "parameters": sum(int(p.numel()) for p in value.module.parameters()),
        }

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from ._torch_nets import ARCHITECTURES, build

        try:
            config = json.loads((folder / "architecture.json").read_text())
        except (OSError, ValueError) as exc:
            raise MaterializerError(f"cannot read architecture.json: {exc}") from None
        if not isinstance(config, dict) or config.get("format") != _FORMAT_VERSION:
            found = config.get("format") if isinstance(config, dict) else None
            raise MaterializerError(
                f"architecture.json has format {found!r}; this Shipyard reads format"
                f" {_FORMAT_VERSION}"
            )
        del config["format"]
        name = config.get("name")
        if name not in ARCHITECTURES:
            raise MaterializerError(
                f"architecture.json names the architecture {name!r}, which this Shipyard does"
                f" not know; known architectures: {', '.join(ARCHITECTURES)}"
            )
        try:
            module = build(config)
        except (KeyError, TypeError, ValueError) as exc:
            raise MaterializerError(
                f"architecture.json does not describe a {name!r} network: {exc!r}"
            ) from None
        try:
            state = load_file(str(folder / "weights.safetensors"))
            module.load_state_dict(state, strict=True)
        except (OSError, SafetensorError, RuntimeError) as exc:
            raise MaterializerError(
                f"weights.safetensors does not fit the {name!r} network of architecture.json: {exc}"
            ) from None
        module.eval()
        return TorchModel(config, module)
