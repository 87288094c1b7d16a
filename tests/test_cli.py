"""The command line: worked examples run, bad input gets one line and exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heterocat import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_version(cli):
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"heterocat {__version__}"


def test_build_sites_place_chain(cli, tmp_path):
    slab = tmp_path / "ru.extxyz"
    r = cli("build", "metal-slab", "--element", "Ru", "--size", "3", "3", "3", "-o", str(slab))
    assert r.returncode == 0, r.stderr
    sites = tmp_path / "ru.sites.json"
    r = cli("sites", str(slab), "--json", str(sites))
    assert r.returncode == 0, r.stderr
    data = json.loads(sites.read_text())
    assert sorted(s["kind"] for s in data["sites"]) == ["bridge", "fcc", "hcp", "top"]
    r = cli("sites", str(slab), "--json")
    assert json.loads(r.stdout)["fingerprint"] == data["fingerprint"]
    r = cli("sites", str(slab))
    assert "fcc:fcc:1" in r.stdout
    out = tmp_path / "ru_h.extxyz"
    r = cli("place", str(slab), "--sites", str(sites), "--site", "fcc:fcc:1", "--adsorbate", "N2H3",
            "--orientation", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    from ase.io import read
    assert read(out).get_chemical_formula() == "H3N2Ru27"


def test_build_supported_and_oxide(cli, tmp_path):
    slab, cluster, model = tmp_path / "nio.extxyz", tmp_path / "ru13.extxyz", tmp_path / "m.extxyz"
    assert cli("build", "oxide-slab", "--layers", "2", "--repeat", "4", "4", "-o", str(slab)).returncode == 0
    assert cli("build", "cluster", "--isomer", "icosahedron", "-o", str(cluster)).returncode == 0
    r = cli("build", "supported", "--support", str(slab), "--cluster", str(cluster), "-o", str(model))
    assert r.returncode == 0, r.stderr
    assert "warning: cluster is" in r.stderr  # p(4x4) is small for Ru13
    r = cli("sites", str(model), "--json")
    labels = {s["label"] for s in json.loads(r.stdout)["sites"]}
    assert {"Ru-Top", "Ru-Middle", "Ru-Bottom", "interface"} <= labels


def test_adsorbates_json(cli):
    r = cli("adsorbates", "--json")
    names = [a["name"] for a in json.loads(r.stdout)]
    assert names == ["H", "O", "OH", "H2O", "NH2", "N2H4", "N2H3", "NHNH", "NNH2", "N2H", "N2"]


@pytest.fixture
def ru_files(cli, tmp_path):
    slab, sites = tmp_path / "ru.extxyz", tmp_path / "ru.json"
    cli("build", "metal-slab", "--size", "2", "2", "3", "-o", str(slab))
    cli("sites", str(slab), "--json", str(sites))
    return slab, sites


@pytest.mark.parametrize("case", [
    "unknown_adsorbate", "unknown_isomer", "unreadable", "missing_site", "zero_layers",
    "bad_repeat", "negative_vacuum", "afm_repeat", "no_args", "wrong_structure",
    "nan_lattice_constant", "infinite_moment", "temperature_below_zero", "report_every_negative",
])
def test_bad_input_one_line_exit_2_nothing_written(cli, tmp_path, ru_files, case):
    slab, sites = ru_files
    out = tmp_path / "out.extxyz"
    junk = tmp_path / "junk.extxyz"
    junk.write_text("this is not a structure\n")
    other = tmp_path / "other.extxyz"
    cli("build", "metal-slab", "--size", "3", "3", "3", "-o", str(other))
    args = {
        "unknown_adsorbate": ["place", str(slab), "--sites", str(sites), "--site", "fcc:fcc:1",
                              "--adsorbate", "XeF6", "-o", str(out)],
        "unknown_isomer": ["build", "cluster", "--isomer", "dodecahedron", "-o", str(out)],
        "unreadable": ["sites", str(junk)],
        "missing_site": ["place", str(slab), "--sites", str(sites), "--site", "Ru-Top:top:9",
                         "--adsorbate", "H", "-o", str(out)],
        "zero_layers": ["build", "oxide-slab", "--layers", "0", "-o", str(out)],
        "bad_repeat": ["build", "oxide-slab", "--repeat", "two", "1", "-o", str(out)],
        "negative_vacuum": ["build", "metal-slab", "--vacuum", "-3", "-o", str(out)],
        "afm_repeat": ["build", "oxide-slab", "--repeat", "1", "1", "-o", str(out)],
        "no_args": [],
        "wrong_structure": ["place", str(other), "--sites", str(sites), "--site", "fcc:fcc:1",
                            "--adsorbate", "H", "-o", str(out)],
        # a number that is not finite would write a structure of nan positions or moments
        "nan_lattice_constant": ["build", "oxide-slab", "--a", "nan", "-o", str(out)],
        "infinite_moment": ["build", "oxide-bulk", "--magmom", "inf", "-o", str(out)],
        "temperature_below_zero": ["freeenergy", str(tmp_path), "--T", "-5"],
        "report_every_negative": ["study", "run", str(ROOT / "workflows" / "demo.toml"), "--workdir",
                                  str(tmp_path / "w"), "--report-every", "-1"],
    }[case]
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_work_directory_that_is_a_file_is_one_line(tmp_path):
    """File-system trouble ends like bad input: one line, exit 2, no traceback."""
    from heterocat.build import metal_slab
    from heterocat.io import write_structure

    slab = write_structure(tmp_path / "pt.extxyz", metal_slab("Pt", size=(1, 1, 2), vacuum=5.0))
    (tmp_path / "file").write_text("")
    out = subprocess.run([sys.executable, "-m", "heterocat", "calc", "single", str(slab), "--preset", "ci",
                          "--set", "calculator.name=emt", "--workdir", str(tmp_path / "file")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Not a directory" in out.stderr, out.stderr


def test_a_temperature_at_or_below_zero_kelvin_is_refused(cli, tmp_path):
    """-TS and the ideal-gas entropy need T > 0 K: the command line and the library both refuse it
    (before: T = -5 K gave numbers from nan logarithms with exit 0)."""
    from heterocat.analyse.freeenergy import free_energies
    from heterocat.errors import HeterocatError

    r = cli("freeenergy", str(tmp_path), "--T", "-5")
    assert r.returncode == 2 and "--T" in r.stderr and "> 0" in r.stderr, r.stderr
    with pytest.raises(HeterocatError, match="above 0 K"):
        free_energies(tmp_path, temperature=0.0)
