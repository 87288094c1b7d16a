"""Fine-tune a SevenNet model on a study's own labelled frames (GPAW, or EMT in tests).

Two stages, both recorded:

1. **Per-element energy offsets.**  A pretrained MLIP and GPAW at our settings differ by a
   near-constant energy per atom of each element (datasets, U, the reference the MLIP was
   trained on).  Least squares over the training frames, ``E_ref - E_mlip = sum_el n_el d_el``,
   gives one offset per element (minimum-norm where the compositions cannot separate two
   elements), added to the model's per-element energy shift.  Fine-tunes that skip this step
   spend their first epochs learning a constant, and usually fail (SevenNet, matgl and fairchem
   issue threads).
2. **Training** of every weight on per-atom energies and on the forces of free atoms (fixed atoms
   carry no force label in a relaxation), Adam, a few epochs on the CPU or a GPU.

Frames are split by the task they come from, so that no held-out frame has a near copy in the
training set.  The result is a checkpoint SevenNet's own calculator loads
(``calculator.model = PATH``), named by version, with its training record beside it (JSON):
base model, offsets, frames, held-out errors before and after each stage, and the file's SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from heterocat.errors import HeterocatError


@dataclass
class Frame:
    """One labelled structure: total energy (eV), forces (eV/Å) and which atoms carry a force label."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    #: the task it comes from (frames are split by task)
    group: str
    #: atoms whose forces are labels (free atoms); None: all
    free: np.ndarray | None = None
    label: str = field(default="")


def elements_of(frames: list[Frame]) -> list[str]:
    """Sorted element symbols over ``frames``."""
    return sorted({s for f in frames for s in f.atoms.get_chemical_symbols()})


def composition_matrix(frames: list[Frame], elements: list[str]) -> np.ndarray:
    """Atoms of each element per frame (frames x elements)."""
    return np.array([[f.atoms.get_chemical_symbols().count(el) for el in elements] for f in frames], dtype=float)


def named_tasks(prefixes: list[str], tasks: set[str], aliases: dict[str, str] | None = None) -> set[str]:
    """The task hashes among ``tasks`` that the hash prefixes ``prefixes`` name, one each;
    ``aliases`` maps other task hashes to one of ``tasks`` (a relaxation that took up the frames
    of another, to that one: :func:`heterocat.store.path_roots`)."""
    aliases = {task: group for task, group in (aliases or {}).items() if group in tasks}
    names = tasks | set(aliases)
    named = set()
    for prefix in prefixes:
        matches = [t for t in names if t.startswith(prefix)]
        if len(matches) != 1:
            raise HeterocatError(f"task {prefix}: {'no' if not matches else len(matches)} tasks with frames "
                                 f"match it (tasks: {', '.join(sorted(t[:16] for t in names))})")
        named.add(aliases.get(matches[0], matches[0]))
    return named


def fit_offsets(frames: list[Frame], predicted: list[float]) -> dict[str, float]:
    """Per-element offsets d_el (eV per atom) minimising sum (E_ref - E_pred - sum_el n_el d_el)^2;
    the minimum-norm solution where compositions are linearly dependent."""
    elements = elements_of(frames)
    a = composition_matrix(frames, elements)
    residual = np.array([f.energy for f in frames]) - np.asarray(predicted, dtype=float)
    solution, *_ = np.linalg.lstsq(a, residual, rcond=None)
    return {el: float(d) for el, d in zip(elements, solution, strict=True)}


def split_by_group(frames: list[Frame], held_out: float, seed: int = 0) -> tuple[list[Frame], list[Frame]]:
    """(training, held-out) frames; whole groups (tasks) are held out, about ``held_out`` of them."""
    if not 0 < held_out < 1:
        raise HeterocatError(f"held-out share must be between 0 and 1, got {held_out}")
    groups = sorted({f.group for f in frames})
    if len(groups) < 2:
        raise HeterocatError(f"need frames from at least 2 tasks to hold some out, got {len(groups)}")
    rng = random.Random(seed)
    rng.shuffle(groups)
    n = min(len(groups) - 1, max(1, round(held_out * len(groups))))
    test = set(groups[:n])
    return [f for f in frames if f.group not in test], [f for f in frames if f.group in test]


class SevenNetModel:
    """A SevenNet checkpoint as a trainable torch module (``base``: a pretrained name or a file;
    ``modal``: the fidelity head of a multi-fidelity model, e.g. ``PBE`` of 7net-mf-0)."""

    def __init__(self, base: str, modal: str | None = None, device: str = "cpu"):
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.filterwarnings("ignore", message="No tensor product accelerator")
                from sevenn.util import load_checkpoint  # noqa: PLC0415

                self.checkpoint = load_checkpoint(base)
                self.model = self.checkpoint.build_model()
        except ImportError:
            raise HeterocatError("fine-tuning needs SevenNet: pip install -e '.[mlip]' (or make mlip)") from None
        except (ValueError, FileNotFoundError) as err:
            raise HeterocatError(f"cannot load SevenNet model {base!r}: {str(err).splitlines()[0]}") from None
        import sevenn._keys as keys  # noqa: PLC0415

        self.keys = keys
        self.base, self.device = base, device
        config = self.checkpoint.config
        self.type_map: dict[int, int] = config[keys.TYPE_MAP]
        self.cutoff = float(config[keys.CUTOFF])
        modal_map = getattr(self.model, "modal_map", None) or {}
        if modal_map and modal not in modal_map:
            raise HeterocatError(f"SevenNet model {base!r} needs a fidelity head: one of {', '.join(modal_map)}")
        self.modal = modal if modal_map else None
        self.modal_index = modal_map.get(modal) if modal_map else None
        self.model.set_is_batch_data(False)
        self.model.to(device)

    def check_elements(self, frames: list[Frame]) -> None:
        """Refuse frames with an element the model does not know."""
        from ase.data import atomic_numbers  # noqa: PLC0415

        unknown = [el for el in elements_of(frames) if atomic_numbers[el] not in self.type_map]
        if unknown:
            raise HeterocatError(f"SevenNet model {self.base!r} knows no {', '.join(unknown)}")

    def predict(self, atoms: Atoms, *, train: bool = False):
        """(energy, forces) as torch tensors (eV, eV/Å); differentiable in the weights when ``train``."""
        from sevenn.atom_graph_data import AtomGraphData  # noqa: PLC0415
        from sevenn.train.dataload import unlabeled_atoms_to_graph  # noqa: PLC0415

        self.model.train(train)
        data = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(atoms, self.cutoff, with_shift=False))
        if self.modal:
            data[self.keys.DATA_MODALITY] = self.modal
        data.to(self.device)
        out = self.model(data)
        return out[self.keys.PRED_TOTAL_ENERGY].reshape(()), out[self.keys.PRED_FORCE][:len(atoms)]

    def energies(self, frames: list[Frame]) -> list[float]:
        """Predicted total energies (eV) of ``frames``."""
        return [float(self.predict(f.atoms)[0].detach().cpu()) for f in frames]

    def add_offsets(self, offsets: dict[str, float]) -> None:
        """Add ``offsets`` (eV per atom of each element) to the model's per-element energy shift."""
        import torch  # noqa: PLC0415
        from ase.data import atomic_numbers  # noqa: PLC0415

        shift = self.model.rescale_atomic_energy.shift
        with torch.no_grad():
            for el, d in offsets.items():
                index = self.type_map[atomic_numbers[el]]
                if shift.dim() == 2:  # one shift per fidelity head
                    shift[self.modal_index, index] += d
                else:
                    shift[index] += d

    def save(self, path: Path, record: dict[str, Any]) -> str:
        """Write the checkpoint (loadable by SevenNet's calculator) atomically; its SHA-256."""
        import torch  # noqa: PLC0415

        import sevenn  # noqa: PLC0415

        content = self.checkpoint.get_checkpoint_dict()
        # the weights are in this SevenNet's layout: a checkpoint of an older version would have them
        # converted again when loaded (its convolutions' last layers, for 7net-0)
        content["config"] = {**content["config"], "version": sevenn.__version__}
        content.update(model_state_dict=self.model.state_dict(), optimizer_state_dict=None,
                       scheduler_state_dict=None, heterocat_finetune=record)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(content, partial)
        partial.replace(path)
        return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def error_summary(errors) -> dict[str, float]:
    """Mean and largest |error| (eV) and the share of errors within 0.1 eV (the fine-tune's goal)."""
    e = np.abs(np.asarray(errors, dtype=float))
    return {"mae": round(float(e.mean()), 4), "max": round(float(e.max()), 4),
            "within_0.1eV": round(float((e <= 0.1).mean()), 3)}


def errors(model: SevenNetModel, frames: list[Frame]) -> dict[str, Any]:
    """Energy errors (eV; per frame, and per atom) and force MAE (eV/Å, free atoms) of ``model``."""
    e_err, f_err = [], []
    for f in frames:
        energy, forces = model.predict(f.atoms)
        e_err.append(float(energy.detach().cpu()) - f.energy)
        free = slice(None) if f.free is None else f.free
        f_err.append(np.abs(forces.detach().cpu().numpy()[free] - f.forces[free]).ravel())
    e = np.array(e_err)
    n = np.array([len(f.atoms) for f in frames])
    forces = np.concatenate(f_err) if f_err else np.zeros(0)
    stats = error_summary(e)
    return {"frames": len(frames), "energy_mae": stats["mae"], "energy_max": stats["max"],
            "energy_mae_per_atom": round(float(np.abs(e / n).mean()), 5),
            "within_0.1eV": stats["within_0.1eV"],
            "force_mae": round(float(forces.mean()), 4) if forces.size else None}


def train(model: SevenNetModel, frames: list[Frame], *, epochs: int, learning_rate: float,
          force_weight: float = 0.1, seed: int = 0, progress: bool = False) -> list[float]:
    """Adam on mean (dE per atom)^2 + ``force_weight`` * mean |dF|^2 over free atoms, one frame a step;
    the mean loss of each epoch.  ``progress``: each epoch's loss and seconds on stderr."""
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)
    rng = random.Random(seed)
    parameters = [p for p in model.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    history = []
    order = list(range(len(frames)))
    start = time.perf_counter()
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for k in order:
            f = frames[k]
            energy, forces = model.predict(f.atoms, train=True)
            target = torch.tensor(f.forces, dtype=forces.dtype, device=forces.device)
            free = slice(None) if f.free is None else torch.as_tensor(f.free, device=forces.device)
            loss = ((energy - f.energy) / len(f.atoms)) ** 2 + force_weight * ((forces[free] - target[free]) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach().cpu())
        history.append(total / len(frames))
        if progress:  # a CPU fine-tune runs for minutes to hours: say how far it is
            print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.3g}, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    model.model.train(False)
    return history


def next_version(directory: Path, stem: str) -> Path:
    """``DIRECTORY/<stem>-ft<N>.pth`` with N one above the highest there."""
    taken = [int(p.stem.rsplit("-ft", 1)[1]) for p in directory.glob(f"{stem}-ft*.pth")
             if p.stem.rsplit("-ft", 1)[1].isdigit()]
    return directory / f"{stem}-ft{max(taken, default=0) + 1}.pth"


def finetune(frames: list[Frame], out_dir: str | Path, *, base: str = "7net-0", modal: str | None = None,
             held_out: float = 0.2, epochs: int = 10, learning_rate: float = 2e-4, force_weight: float = 0.1,
             seed: int = 0, device: str = "cpu", source: dict[str, Any] | None = None,
             held_out_tasks: set[str] | None = None, progress: bool = False, threads: int = 0) -> dict[str, Any]:
    """Offsets, then training, of SevenNet ``base`` on ``frames``; writes the model and its record
    in ``out_dir`` and returns the record (errors before / after offsets / after training).
    ``held_out_tasks`` names the tasks to hold out; None: about ``held_out`` of them at random.
    ``progress``: each epoch's loss and seconds on stderr (the command line's ``mlip finetune``).
    ``threads``: torch's CPU threads (0: torch's default, every core).  Beside busy processes give it
    the free cores only: oversubscribed, a training step is several times slower (docs/benchmarks.md).
    ``force_weight``: the forces' weight in the loss, against the per-atom energy's."""
    if epochs < 0 or learning_rate <= 0 or force_weight < 0:
        raise HeterocatError("epochs and the force weight must be >= 0 and the learning rate > 0")
    if held_out_tasks is None:
        training, test = split_by_group(frames, held_out, seed)
    else:
        training = [f for f in frames if f.group not in held_out_tasks]
        test = [f for f in frames if f.group in held_out_tasks]
        if not training or not test:
            raise HeterocatError(f"{len(training)} training and {len(test)} held-out frames: need some of each")
    if threads < 0:
        raise HeterocatError("threads must be >= 0 (0: torch's default)")
    import torch  # noqa: PLC0415

    if threads:
        torch.set_num_threads(threads)
    model = SevenNetModel(base, modal, device)
    model.check_elements(frames)
    start = time.perf_counter()
    before = {"training": errors(model, training), "held_out": errors(model, test)}
    offsets = fit_offsets(training, model.energies(training))
    model.add_offsets(offsets)
    after_offsets = {"training": errors(model, training), "held_out": errors(model, test)}
    history = train(model, training, epochs=epochs, learning_rate=learning_rate, force_weight=force_weight, seed=seed,
                    progress=progress)
    after = {"training": errors(model, training), "held_out": errors(model, test)}
    stem = Path(base).stem if Path(base).suffix else base.replace("/", "-")
    path = next_version(Path(out_dir), stem + (f"-{modal}" if modal else ""))
    record: dict[str, Any] = {
        "model": str(path), "base": base, "modal": modal, "source": source or {},
        "frames": {"training": len(training), "held_out": len(test),
                   "training_tasks": sorted({f.group for f in training}),
                   "held_out_tasks": sorted({f.group for f in test})},
        "offsets_eV_per_atom": {el: round(d, 5) for el, d in offsets.items()},
        "epochs": epochs, "learning_rate": learning_rate, "force_weight": force_weight, "seed": seed,
        "device": device, "threads": torch.get_num_threads(), "loss_per_epoch": [round(x, 6) for x in history],
        "errors": {"pretrained": before, "offsets": after_offsets, "finetuned": after},
        "seconds": round(time.perf_counter() - start, 1), "versions": _versions(),
    }
    record["sha256"] = model.save(path, record)
    from heterocat.io import write_json  # noqa: PLC0415

    write_json(path.with_suffix(".json"), record)
    return record


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    out = {}
    for name in ("heterocat", "sevenn", "torch"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out
