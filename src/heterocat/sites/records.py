"""Site records and enumerations, and how they are saved and loaded.

A site is a plain record with a fixed set of keys:

``id``       stable name, ``"<label>:<kind>:<n>"`` (e.g. ``"Ru-Top:hollow:1"``)
``label``    what a chemist calls it: ``Ru-Top``, ``Ru-Middle``, ``Ru-Bottom``,
             ``interface``, ``Ni-top``, ``O-top``, ``Ni-O-bridge``, ``fcc``, ``hcp``, ``hollow`` ...
``kind``     ``top``, ``bridge``, ``hollow`` (three-fold with no flavour), ``fcc``,
             ``hcp`` or ``fourfold``
``region``   ``surface`` (slab), ``cluster``, ``interface``, ``support-near`` or ``support-far``
``position`` the point on the surface (Å, Cartesian): the atom for a top site,
             the midpoint of a bridge, the centroid of a hollow
``normal``   unit vector pointing away from the surface, along which an adsorbate sits
``indices``  indices of the coordinating atoms
``layers``   on a supported cluster, which layers the coordinating atoms come from, as
             counts in the order T (top layer of the cluster), M (any middle layer),
             B (bottom layer, touching the support), S (support atom): ``T1M2`` is a
             hollow of one top-layer atom and two middle-layer atoms (label
             ``Ru-Middle``, the layer holding most of its atoms), ``B1S1`` an interface
             bridge; empty on slabs and free clusters

An enumeration ties a list of sites to the structure it was made for through
the structure's :func:`fingerprint`; loading it against another structure is
refused.  An enumeration also lists, for each unique site, the coordinating atoms of
every site symmetry-equivalent to it (``equivalents``), so that the site on which a
relaxed adsorbate ended can be named by the id of its class.  Version 1 files (no
``layers``, no ``equivalents``) are still read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from heterocat import __version__
from heterocat.errors import HeterocatError
from heterocat.io import read_json, write_json

FORMAT = "heterocat.sites"
FORMAT_VERSION = 2
#: versions this heterocat reads
READABLE_VERSIONS = (1, 2)
SITE_KEYS = ("id", "label", "kind", "region", "position", "normal", "indices", "layers")
KINDS = ("top", "bridge", "hollow", "fcc", "hcp", "fourfold")
REGIONS = ("surface", "cluster", "interface", "support-near", "support-far")


@dataclass
class Site:
    """One adsorption site (see the module docstring for the keys)."""

    id: str
    label: str
    kind: str
    region: str
    position: list[float]
    normal: list[float]
    indices: list[int]
    layers: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with exactly :data:`SITE_KEYS`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Site:
        """Inverse of :meth:`to_dict`; refuses missing or unknown keys (``layers`` may be
        missing: version 1)."""
        keys = set(data) | {"layers"}
        if keys != set(SITE_KEYS):
            missing, extra = set(SITE_KEYS) - keys, keys - set(SITE_KEYS)
            raise HeterocatError(
                f"site record has missing keys {sorted(missing)} / unknown keys {sorted(extra)}"
            )
        if data["kind"] not in KINDS:
            raise HeterocatError(f"site {data['id']}: unknown kind {data['kind']!r}")
        return cls(**data)


def fingerprint(atoms: Atoms) -> str:
    """SHA-256 of the atomic numbers, positions and cell (to 1e-3 Å) and periodicity.

    Moments, constraints and metadata do not enter, so a structure keeps its
    fingerprint when it is written and read back in any format ASE supports.
    """
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.rint(np.asarray(atoms.positions) * 1000).astype(np.int64).tobytes())
    h.update(np.rint(np.asarray(atoms.cell) * 1000).astype(np.int64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return "sha256:" + h.hexdigest()


@dataclass
class SiteEnumeration:
    """Symmetry-unique sites of one structure, with the structure's fingerprint."""

    fingerprint: str
    system: dict[str, Any]
    sites: list[Site]
    parameters: dict[str, Any] = field(default_factory=dict)
    #: site id -> coordinating atoms of every site of its symmetry class (itself included)
    equivalents: dict[str, list[list[int]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Versioned JSON-ready dict."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "heterocat_version": __version__,
            "fingerprint": self.fingerprint,
            "system": self.system,
            "parameters": self.parameters,
            "sites": [s.to_dict() for s in self.sites],
            "equivalents": self.equivalents,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiteEnumeration:
        """Inverse of :meth:`to_dict`; refuses other formats and newer versions."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise HeterocatError("not a heterocat site enumeration (format key missing)")
        if data.get("version") not in READABLE_VERSIONS:
            raise HeterocatError(
                f"site enumeration version {data.get('version')} is not supported "
                f"(this heterocat reads versions {', '.join(map(str, READABLE_VERSIONS))})"
            )
        return cls(fingerprint=data["fingerprint"], system=data.get("system", {}),
                   sites=[Site.from_dict(s) for s in data["sites"]],
                   parameters=data.get("parameters", {}),
                   equivalents={k: [list(map(int, v)) for v in vs]
                                for k, vs in data.get("equivalents", {}).items()})

    def site(self, site_id: str) -> Site:
        """The site named ``site_id``; a clear error lists the known ids otherwise."""
        for s in self.sites:
            if s.id == site_id:
                return s
        known = ", ".join(s.id for s in self.sites)
        raise HeterocatError(f"no site {site_id!r} in this enumeration; known ids: {known}")

    def site_of_atoms(self, indices: list[int], kind: str | None = None) -> Site | None:
        """The site whose symmetry class holds a site on exactly the atoms ``indices`` (a list in
        which an atom appears once per periodic image taking part; of ``kind`` when given), or None.

        In a small periodic cell one set of atoms can form sites of several classes (on a
        2x2 close-packed cell every three atoms make an fcc and an hcp hollow): ``kind``
        tells them apart.  Uses ``equivalents``; a version 1 enumeration has none and
        matches only its listed sites.
        """
        wanted = sorted(int(i) for i in indices)  # an atom twice: two of its images (a 1x1 cell)
        for s in self.sites:
            members = self.equivalents.get(s.id) or [s.indices]
            if (kind is None or s.kind == kind) and any(sorted(m) == wanted for m in members):
                return s
        return None

    def check_matches(self, atoms: Atoms) -> None:
        """Refuse to use this enumeration for a structure with another fingerprint."""
        if fingerprint(atoms) != self.fingerprint:
            raise HeterocatError(
                f"site enumeration was made for another structure ({self.system.get('formula', '?')},"
                f" {self.fingerprint[:19]}...) than this one ({atoms.get_chemical_formula()},"
                f" {fingerprint(atoms)[:19]}...); enumerate the sites again"
            )

    def save(self, path: str | os.PathLike) -> None:
        """Write the enumeration as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, atoms: Atoms | None = None) -> SiteEnumeration:
        """Read an enumeration; with ``atoms`` given, check that it belongs to them."""
        enumeration = cls.from_dict(read_json(path))
        if atoms is not None:
            enumeration.check_matches(atoms)
        return enumeration
