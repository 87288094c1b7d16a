"""Studies: what to compute, as data (a TOML file), and the steps that run it."""

from heterocat.study.spec import PathwaySpec, Study, SurfaceSpec, load_study

__all__ = ["PathwaySpec", "Study", "SurfaceSpec", "load_study"]
