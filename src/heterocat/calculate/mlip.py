"""Machine-learned interatomic potentials behind the same settings as GPAW.

Only models whose weights ship inside their PyPI package are used, so nothing
is downloaded at run time: CHGNet (``chgnet``; default model: the package's
pretrained 0.3.0 weights) and SevenNet (``sevenn``; default ``7net-0``).
Install them with ``pip install -e '.[mlip]'`` (``make mlip``).  A missing
package or missing weights is a one-line error, not a traceback.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from functools import cache
from pathlib import Path

from heterocat.errors import HeterocatError

DEFAULT_MODELS = {"chgnet": "0.3.0", "sevenn": "7net-0"}
INSTALL_HINT = "install the MLIP extra: pip install -e '.[mlip]' (or make mlip)"


def split_model(model: str) -> tuple[str, str | None]:
    """(model, fidelity head): ``7net-mf-0:PBE`` -> (``7net-mf-0``, ``PBE``); a model file or a
    single-fidelity name has no head."""
    if Path(model).is_file() or ":" not in model:
        return model, None
    base, modal = model.rsplit(":", 1)
    return base, modal or None


def model_identity(model: str) -> str:
    """What names a model's numbers: a pretrained name as it is, a model file by its SHA-256
    (moving the file keeps its results; changing its weights does not)."""
    base, modal = split_model(model)
    if Path(base).is_file():
        stat = Path(base).stat()
        return f"sha256:{_file_hash(str(Path(base).resolve()), stat.st_mtime_ns, stat.st_size)}" + \
            (f":{modal}" if modal else "")
    return model


@cache
def _file_hash(path: str, mtime_ns: int, size: int) -> str:  # the file's time and size key the cache
    from heterocat.calculate.finetune import file_sha256  # noqa: PLC0415

    return file_sha256(path)


def mlip_label(name: str, model: str = "default") -> str:
    """Level-of-theory line of an MLIP; always says it is not DFT.  A model file is named with the
    first 12 hex digits of its SHA-256."""
    model = DEFAULT_MODELS[name] if model == "default" else model
    base, modal = split_model(model)
    if Path(base).is_file():
        model = f"{Path(base).name} (sha256 {model_identity(base)[7:19]})" + (f" head {modal}" if modal else "")
    elif modal:
        model = f"{base} head {modal}"
    return f"MLIP {'CHGNet' if name == 'chgnet' else 'SevenNet'} {model} (machine-learned; not DFT)"


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """``cuda`` or ``cpu``: ``auto`` is CUDA when torch sees a GPU; asking for CUDA without one is refused."""
    if device not in DEVICES:
        raise HeterocatError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise HeterocatError(f"the MLIPs need torch: {INSTALL_HINT}") from None
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise HeterocatError("calculator.device = cuda, but torch sees no CUDA GPU here (use auto or cpu)")
    return "cuda" if available else "cpu"


@cache
def _load(name: str, model: str, device: str = "cpu"):
    try:
        if name == "chgnet":
            from chgnet.model import CHGNet  # noqa: PLC0415

            return CHGNet.load(model_name=model, use_device=device, verbose=False)
        from sevenn.calculator import SevenNetCalculator  # noqa: PLC0415

        base, modal = split_model(model)
        with warnings.catch_warnings():
            # its tensor-product accelerators (cuEquivariance, FlashTP, OpenEquivariance) are GPU-only
            warnings.filterwarnings("ignore", message="No tensor product accelerator")
            return SevenNetCalculator(model=base, modal=modal, device=device)
    except ImportError:
        raise HeterocatError(f"MLIP {name!r} is not installed: {INSTALL_HINT}") from None
    except HeterocatError:
        raise
    except Exception as err:  # weights missing, or the package tried to download them
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HeterocatError(f"cannot load {name} model {model!r} offline ({reason}); models shipped "
                             f"in the package: {DEFAULT_MODELS[name]!r}") from None


def mlip_calculator(name: str, model: str = "default", device: str = "auto"):
    """An ASE calculator for the MLIP ``name`` (``chgnet`` or ``sevenn``) on ``device`` (see
    :func:`resolve_device`; the result records where it ran)."""
    if name not in DEFAULT_MODELS:
        raise HeterocatError(f"unknown MLIP {name!r}; choose from {', '.join(DEFAULT_MODELS)}")
    model = DEFAULT_MODELS[name] if model == "default" else model
    # the packages print banners ("CHGNet will run on cpu") on stdout, which belongs to
    # --json documents: send them to stderr
    device = resolve_device(device)
    with contextlib.redirect_stdout(sys.stderr):
        loaded = _load(name, model, device)
        if name == "chgnet":
            from chgnet.model.dynamics import CHGNetCalculator  # noqa: PLC0415

            return CHGNetCalculator(model=loaded, use_device=device)
    return loaded
