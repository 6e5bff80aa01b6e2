"""Adapters to outside systems (Braze, S3, mail), translating their failures into ours."""
