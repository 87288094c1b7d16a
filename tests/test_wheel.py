"""The installed package is complete without the checkout: a wheel, installed into a folder of its
own and imported from elsewhere, builds a model, enumerates its sites, loads every preset and
cluster profile and reads a study file."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import heterocat, sys
from pathlib import Path
assert Path(heterocat.__file__).is_relative_to(sys.argv[1]), heterocat.__file__
from heterocat.build import nio100_slab
from heterocat.calculate.settings import load_settings, preset_names
from heterocat.run.submit import CLUSTERS, load_profile
from heterocat.sites import find_sites
assert {"ci", "fast", "paper"} <= set(preset_names()), preset_names()
for name in preset_names():
    load_settings(name)
profiles = sorted(p.stem for p in CLUSTERS.glob("*.toml"))
assert "slurm" in profiles, profiles
for name in profiles:
    load_profile(name)
sites = find_sites(nio100_slab(layers=2, repeat=(2, 2)))
assert {s.label for s in sites.sites} == {"Ni-top", "O-top", "Ni-O-bridge", "hollow"}
print("ok", len(sites.sites))
"""


def test_the_wheel_works_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("heterocat-*.whl")
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-2000:]
    away = tmp_path / "elsewhere"
    away.mkdir()
    run = subprocess.run([sys.executable, "-c", CHECK, str(target)], capture_output=True, text=True, cwd=away,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0 and run.stdout.startswith("ok"), run.stderr[-2000:]
