"""The model registry: named models, numbered versions, aliases and an audit log of their moves.

::

    from shipyard.registry import Registry

    registry = Registry(project)
    v = registry.register("churn", digest, blessed=True, run_id=run_id)
    registry.promote("churn", v.version)  # production -> v, logged
    registry.rollback("churn")  # production back where it was, logged
    registry.get("churn@production")
"""

from ._records import AliasMove as AliasMove
from ._records import ModelVersion as ModelVersion
from ._records import RegisteredModel as RegisteredModel
from .registry import DEFAULT_ALIAS as DEFAULT_ALIAS
from .registry import Registry as Registry

__all__ = ["AliasMove", "DEFAULT_ALIAS", "ModelVersion", "RegisteredModel", "Registry"]
