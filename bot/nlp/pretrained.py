"""What the featurizers built on pretrained weights share: they have nothing to train, so
Rasa builds them from their configuration alone, for training and for loading alike."""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer


class PretrainedFeaturizer(DenseFeaturizer, GraphComponent):
    """A dense featurizer whose weights come from a package, not from training."""

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, {**self.get_default_config(), **config})

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PretrainedFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass
