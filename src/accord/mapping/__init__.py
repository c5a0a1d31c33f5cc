"""Mapping profiles between a system's native fields and the hub's canonical fields."""

from accord.mapping.profile import ConflictPolicy, EntityMap, FieldMap, Profile

__all__ = ["ConflictPolicy", "EntityMap", "FieldMap", "Profile"]
