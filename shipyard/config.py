"""The typed schema of ``shipyard.yaml``, shared by the file, the Python API and the CLI.

:class:`ShipyardConfig` is the whole file; each section is a model of its own
(defined in ``_config_sections`` and ``_config_serve``, public here).
:func:`load_config` reads one file and :func:`load_project` finds the project
root and its config. The loader interpolates ``${VAR}``, resolves relative
paths against the folder of ``shipyard.yaml``, and turns every problem into a
:class:`~shipyard.errors.ConfigError` naming the file, line, field, value and
what was expected (``_config_yaml``). ``docs/config.md`` is the user's
reference. ``python -m shipyard.config > docs/shipyard.schema.json``
regenerates the JSON schema.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from . import _config_yaml as _yaml
from ._config_sections import CrossSpec as CrossSpec
from ._config_sections import DataConfig as DataConfig
from ._config_sections import DataSource as DataSource
from ._config_sections import EvaluateConfig as EvaluateConfig
from ._config_sections import ExecutorConfig as ExecutorConfig
from ._config_sections import FeaturesConfig as FeaturesConfig
from ._config_sections import FeatureSpec as FeatureSpec
from ._config_sections import GateConfig as GateConfig
from ._config_sections import ParamSpec as ParamSpec
from ._config_sections import ProjectConfig as ProjectConfig
from ._config_sections import RegisterConfig as RegisterConfig
from ._config_sections import SplitConfig as SplitConfig
from ._config_sections import StoreConfig as StoreConfig
from ._config_sections import Threshold as Threshold
from ._config_sections import TrainConfig as TrainConfig
from ._config_sections import TransformSpec as TransformSpec
from ._config_sections import TuneConfig as TuneConfig
from ._config_serve import AlertConfig as AlertConfig
from ._config_serve import AuthToken as AuthToken
from ._config_serve import DirectionalProbe as DirectionalProbe
from ._config_serve import FixedCase as FixedCase
from ._config_serve import InvarianceProbe as InvarianceProbe
from ._config_serve import MonitorConfig as MonitorConfig
from ._config_serve import MonitorWindow as MonitorWindow
from ._config_serve import PredictionLogConfig as PredictionLogConfig
from ._config_serve import ProbesConfig as ProbesConfig
from ._config_serve import ServeAuth as ServeAuth
from ._config_serve import ServeConfig as ServeConfig
from ._config_serve import ServeLimits as ServeLimits
from ._config_serve import TrafficRoute as TrafficRoute
from ._config_types import CallableTarget, Section, folder_name
from ._config_types import parse_duration as parse_duration
from ._config_yaml import FieldError
from .errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "STATE_DIR",
    "AlertConfig",
    "AuthToken",
    "CrossSpec",
    "DataConfig",
    "DataSource",
    "DirectionalProbe",
    "EvaluateConfig",
    "ExecutorConfig",
    "FeatureSpec",
    "FeaturesConfig",
    "FixedCase",
    "GateConfig",
    "InvarianceProbe",
    "MonitorConfig",
    "MonitorWindow",
    "ParamSpec",
    "PredictionLogConfig",
    "ProbesConfig",
    "ProjectConfig",
    "RegisterConfig",
    "ServeAuth",
    "ServeConfig",
    "ServeLimits",
    "ShipyardConfig",
    "SplitConfig",
    "StoreConfig",
    "Threshold",
    "TrafficRoute",
    "TrainConfig",
    "TransformSpec",
    "TuneConfig",
    "export_json_schema",
    "find_project_root",
    "load_config",
    "load_project",
    "parse_duration",
]

CONFIG_FILE = "shipyard.yaml"
"""The name of the config file at a project's root."""
STATE_DIR = ".shipyard"
"""The folder at a project's root holding the default stores."""

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}  # noqa: S104 - compared, never bound


with warnings.catch_warnings():
    # pydantic warns that the field "register" shadows ABCMeta.register, a method
    # of the models' metaclass. Instances never see their metaclass's methods,
    # so ``config.register`` is the section, as a test checks.
    warnings.filterwarnings("ignore", 'Field name "register"', UserWarning)

    class ShipyardConfig(Section):
        """The whole ``shipyard.yaml``: every section, each with its defaults."""

        project: ProjectConfig = Field(default_factory=ProjectConfig, description="The project.")
        pipeline: CallableTarget | None = Field(
            default=None,
            description="'path/to/file.py:function': the @pipeline that `shipyard run` runs.",
        )
        seed: int = Field(
            default=0, ge=0, le=2**32 - 1, description="Seed of every random choice in a run."
        )
        store: StoreConfig = Field(
            default_factory=StoreConfig, description="Metadata and artifacts."
        )
        executor: ExecutorConfig = Field(
            default_factory=ExecutorConfig, description="Step executor."
        )
        data: DataConfig = Field(default_factory=DataConfig, description="Training data.")
        features: FeaturesConfig = Field(default_factory=FeaturesConfig, description="Features.")
        train: TrainConfig = Field(default_factory=TrainConfig, description="Training.")
        tune: TuneConfig = Field(default_factory=TuneConfig, description="Hyperparameter tuning.")
        evaluate: EvaluateConfig = Field(
            default_factory=EvaluateConfig, description="Evaluation and gate."
        )
        register: RegisterConfig = Field(default_factory=RegisterConfig, description="Registry.")
        serve: ServeConfig = Field(default_factory=ServeConfig, description="Model server.")
        monitor: MonitorConfig = Field(default_factory=MonitorConfig, description="Monitoring.")

        # Private, so they are neither dumped nor part of the schema.
        _root: Path | None = PrivateAttr(default=None)
        _file: Path | None = PrivateAttr(default=None)
        _secrets: dict[_yaml.KeyPath, list[str]] = PrivateAttr(default_factory=dict)

        @model_validator(mode="after")
        def _check(self) -> ShipyardConfig:
            roles = {"target": self.data.target, "key": self.data.key}
            for index, feature in enumerate(self.features.columns):
                for role, column in roles.items():
                    if feature.name == column:
                        raise FieldError(
                            ("features", "columns", index, "name"),
                            f"feature {column!r} is data.{role}={column!r};"
                            " it cannot be a feature too",
                        )
            own = _LOOPBACK | {self.serve.host}
            for index, alert in enumerate(self.monitor.alerts):
                parts = urlsplit(alert.url or "")
                if parts.hostname in own and parts.port == self.serve.port:
                    raise FieldError(
                        ("monitor", "alerts", index, "url"),
                        f"url={alert.url!r} is the server itself (serve.port={self.serve.port})",
                    )
            return self

        @classmethod
        def from_dict(
            cls, data: Mapping[str, Any] | None = None, *, base_dir: Path | str | None = None
        ) -> ShipyardConfig:
            """Validate ``data`` (sections as plain dicts) into a config.

            Unlike ``ShipyardConfig(**data)``, which raises pydantic's
            ``ValidationError``, this raises :class:`ConfigError` listing every
            invalid field. No ``${VAR}`` interpolation happens here.

            Parameters
            ----------
            data
                The sections; None is the default config.
            base_dir
                Folder relative paths resolve against, and whose name is the
                default project name; None: the current directory.

            Raises
            ------
            ConfigError
                Listing every invalid field with its value and what was expected.
            """
            base = Path(os.path.abspath(base_dir if base_dir is not None else Path.cwd()))
            return cls._build(dict(data or {}), base, None, {}, {})

        @classmethod
        def _build(
            cls,
            data: dict[str, Any],
            base: Path,
            file: Path | None,
            lines: Mapping[_yaml.KeyPath, int],
            secrets: dict[_yaml.KeyPath, list[str]],
        ) -> ShipyardConfig:
            def mask(text: str) -> str:
                return _yaml.mask_text(text, [v for values in secrets.values() for v in values])

            # The project is named after its folder unless the file names it.
            if data.get("project") is None:
                data["project"] = {}
            project = data["project"]
            if isinstance(project, dict) and "name" not in project:
                project["name"] = folder_name(base)
            try:
                config = cls.model_validate(data, context={"base_dir": base})
            except ValidationError as exc:
                issues = _yaml.validation_issues(exc, data, lines, cls, secrets, mask)
                # ``from None``: pydantic's own message shows the raw input, secrets included.
                raise _yaml.config_error(issues, str(file) if file else None) from None
            config._root, config._file, config._secrets = base, file, secrets
            return config

        @property
        def root(self) -> Path:
            """The project root: the folder of ``shipyard.yaml``, or the cwd when built in code."""
            return self._root or Path.cwd()

        @property
        def file(self) -> Path | None:
            """The file this config was read from, if any."""
            return self._file

        def metadata_url(self) -> str:
            """Return the metadata store's SQLAlchemy URL, the default filled in."""
            return self.store.url or f"sqlite:///{self.root / STATE_DIR / 'metadata.db'}"

        def artifacts_location(self) -> str:
            """Return the artifact store's folder or URL, the default filled in."""
            return self.store.artifacts or str(self.root / STATE_DIR / "artifacts")

        def prediction_log_location(self) -> str:
            """Return the prediction log's folder or URL, the default filled in."""
            return self.serve.log.path or str(self.root / STATE_DIR / "predictions")

        def _secret_values(self) -> list[str]:
            values = [v for found in self._secrets.values() for v in found]
            values += [t.token.get_secret_value() for t in self.serve.auth.tokens]
            for url in (self.store.url, self.data.source.url if self.data.source else None):
                values += _yaml.url_passwords(url or "")
            return values

        def mask(self, text: str) -> str:
            """Return ``text`` with every secret replaced by ``***``.

            Secrets are the values read from the environment by ``${VAR}``, the
            server's tokens and passwords in URLs. In free text, values shorter
            than 4 characters are left alone (masking ``1`` would garble every
            line); :meth:`masked_dump` hides the fields holding them whole.
            """
            return _yaml.mask_text(text, self._secret_values())

        def masked_dump(self) -> dict[str, Any]:
            """Return the config as JSON-able data, safe to log or record as run params.

            Values from the environment, tokens, passwords in URLs and values under
            keys such as ``password`` or ``api_key`` are replaced by ``***``.
            """
            secrets = dict(self._secrets)
            for index in range(len(self.serve.auth.tokens)):
                secrets[("serve", "auth", "tokens", index, "token")] = []
            dumped = self.model_dump(mode="json")
            masked: dict[str, Any] = _yaml.mask_tree(dumped, (), secrets, self.mask)
            return masked

        def __repr__(self) -> str:
            return self.mask(super().__repr__())

        def __str__(self) -> str:
            return self.mask(super().__str__())


def load_config(path: Path | str) -> ShipyardConfig:
    """Read, interpolate and validate one ``shipyard.yaml``.

    Parameters
    ----------
    path
        The file. Relative paths inside it resolve against its folder, and a
        missing ``project.name`` is that folder's name.

    Returns
    -------
    ShipyardConfig
        An empty file gives the default config.

    Raises
    ------
    ConfigError
        When the file cannot be read, is not valid YAML, names an unset
        environment variable or holds invalid values; the message gives the
        file, line, field, value and what was expected, one line per problem.
    """
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError("no such file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", file=file) from None
    document = _yaml.read_yaml(text, file)
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of sections (project:, data:, train:, ...);"
            f" got a {type(data).__name__}",
            file=file,
            line=1,
        )
    # The environment is read now, when the config is built; never at import.
    data, secrets = _yaml.interpolate(data, os.environ, document.lines, file)
    base = Path(os.path.abspath(path.parent))
    return ShipyardConfig._build(data, base, path, document.lines, secrets)


def find_project_root(start: Path | str | None = None) -> Path:
    """Return the nearest folder upward from ``start`` holding ``shipyard.yaml`` or ``.shipyard/``.

    Parameters
    ----------
    start
        Folder (or file) to start from; None: the current directory.

    Returns
    -------
    Path
        That folder, absolute; ``start`` itself when no folder up to the
        file system's root has either.
    """
    here = Path(os.path.abspath(start if start is not None else Path.cwd()))
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() or (folder / STATE_DIR).is_dir():
            return folder
    return here


def load_project(start: Path | str | None = None) -> tuple[Path, ShipyardConfig]:
    """Find the project root from ``start`` and load its config.

    Returns
    -------
    root, config
        Without a ``shipyard.yaml`` the config is the default one, its
        project named after the root folder.

    Raises
    ------
    ConfigError
        As :func:`load_config`; also when there is a ``shipyard.yml`` instead.
    """
    root = find_project_root(start)
    if (root / CONFIG_FILE).is_file():
        return root, load_config(root / CONFIG_FILE)
    if (root / "shipyard.yml").is_file():
        raise ConfigError(
            f"Shipyard reads {CONFIG_FILE}; rename this file", file=str(root / "shipyard.yml")
        )
    return root, ShipyardConfig.from_dict(None, base_dir=root)


def export_json_schema() -> dict[str, Any]:
    """Return the JSON schema of ``shipyard.yaml``, for editors and the docs."""
    return ShipyardConfig.model_json_schema()


if __name__ == "__main__":
    import json
    import sys

    sys.stdout.write(json.dumps(export_json_schema(), indent=2) + "\n")
