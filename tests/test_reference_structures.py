"""structures/ holds exactly what the builders make today."""

from pathlib import Path

from heterocat.build.reference import MODELS, write_reference
from heterocat.cli import _compare_reference

STRUCTURES = Path(__file__).resolve().parents[1] / "structures"


def test_committed_reference_models_regenerate_identically(tmp_path):
    rows = write_reference(tmp_path)
    assert [r["name"] for r in rows] == [m.name for m in MODELS]
    assert _compare_reference(tmp_path, STRUCTURES) == []


def test_reference_site_counts_are_physical(tmp_path):
    rows = {r["name"]: r for r in write_reference(tmp_path)}
    assert rows["ru0001"]["site_counts"] == {"Ru-bridge": 1, "Ru-top": 1, "fcc": 1, "hcp": 1}
    assert rows["nio100"]["site_counts"] == {"Ni-O-bridge": 1, "Ni-top": 1, "O-top": 1, "hollow": 1}
    assert rows["ru13_icosahedron"]["sites"] == 3
    supported = rows["nio100_ru13"]["site_counts"]
    assert all(supported.get(k, 0) > 0 for k in ("Ru-Top", "Ru-Middle", "Ru-Bottom", "interface",
                                                 "Ni-top", "O-top"))
