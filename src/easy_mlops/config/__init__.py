"""Config schemas, composition and ``_target_`` instantiation."""
