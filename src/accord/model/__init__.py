"""Canonical entities (company, person, sales person), their fields and normalisation."""

from accord.model.entities import ENTITIES, EntitySpec, FieldSpec, entity_spec
from accord.model.normalise import normalise_value

__all__ = ["ENTITIES", "EntitySpec", "FieldSpec", "entity_spec", "normalise_value"]
