"""Structure builders: rocksalt, spinel and corundum oxides, metal slabs, 13-atom clusters, supported clusters."""

from heterocat.build.clusters import ISOMERS, metal_cluster
from heterocat.build.crystal import crystal_bulk, crystal_slab
from heterocat.build.metal import metal_bulk, metal_slab, ru0001_slab
from heterocat.build.oxide import nio100_slab, nio_bulk, rocksalt100_slab, rocksalt_bulk

__all__ = [
    "ISOMERS", "crystal_bulk", "crystal_slab", "metal_bulk", "metal_cluster", "metal_slab", "nio100_slab", "nio_bulk",
    "rocksalt100_slab", "rocksalt_bulk", "ru0001_slab",
]
from heterocat.build.supported import supported_cluster  # noqa: E402

__all__ += ["supported_cluster"]
