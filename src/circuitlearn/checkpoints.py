"""Checkpoints of a single long training run: the loop's whole state (``loop.LoopState``),
written atomically every N steps beside the run's output directory, so that an interrupted or
killed run continues with ``circuitlearn train CONFIG --resume`` to exactly the result an
uninterrupted run gives.

The file is ``.<out name>.checkpoint`` next to ``<out>``: a pickle of the state with the hash of
the config it belongs to (a checkpoint of another config is refused). Pickles can run code when
loaded: resume only from checkpoints you wrote yourself.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from ._validation import check_output_dir, check_output_file, in_range
from ._version import __version__
from .config import run_config
from .errors import TrainingInterrupted, ValidationError
from .loop import LoopState
from .store import atomic_write, canonical_hash, is_incomplete, save
from .train import TrainResult


class Checkpoint:
    """The checkpoint file of one run.

    Parameters
    ----------
    path : Path
        The checkpoint file.
    config_hash : str
        ``store.canonical_hash`` of the run's validated config.
    """

    def __init__(self, path: Path, config_hash: str):
        self.path, self.config_hash = Path(path), config_hash

    @classmethod
    def beside(cls, out: Path | str, config: dict) -> Checkpoint:
        """The checkpoint of the run written to directory ``out`` with ``config``."""
        out = Path(out)
        return cls(out.parent / f".{out.name}.checkpoint", canonical_hash(config))

    def check_writable(self) -> None:
        """Refuse, before any work, a checkpoint path that cannot be written."""
        check_output_file("checkpoint", self.path)

    def save(self, loop: LoopState) -> None:
        """Write ``loop`` (atomically: a crash never leaves half a checkpoint)."""
        blob = {"version": __version__, "config": self.config_hash, "loop": loop}
        atomic_write(self.path, pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL))

    def _read(self) -> dict:
        if not self.path.is_file():
            raise ValidationError(
                f"--resume: there is no checkpoint {str(self.path)!r} of a run into this "
                "--out: run without --resume (or give the --out of the interrupted run)"
            )
        try:
            blob = pickle.loads(self.path.read_bytes())
        except Exception as exc:  # noqa: BLE001  (a truncated or foreign file)
            raise ValidationError(
                f"--resume: checkpoint {str(self.path)!r} cannot be read ({exc}); delete it "
                "and run without --resume"
            ) from None
        if not isinstance(blob, dict) or not isinstance(blob.get("loop"), LoopState):
            raise ValidationError(f"--resume: {str(self.path)!r} is not a circuitlearn checkpoint")
        return blob

    def load(self) -> LoopState:
        """The checkpointed state, refusing one written for another config."""
        blob = self._read()
        if blob["config"] != self.config_hash:
            raise ValidationError(
                f"--resume: checkpoint {str(self.path)!r} belongs to a different config: resume "
                "with the config the run started with, or delete the checkpoint"
            )
        return blob["loop"]

    def step(self) -> int | None:
        """The step a resume would continue from, or None without a checkpoint."""
        try:
            return int(self._read()["loop"].step)
        except ValidationError:
            return None

    def remove(self) -> None:
        """Delete the checkpoint (the run is complete)."""
        self.path.unlink(missing_ok=True)


def train_into(
    config: dict,
    out: Path | str,
    overwrite: bool = False,
    resume: bool = False,
    checkpoint_every: int = 1000,
    progress: bool | None = None,
) -> TrainResult:
    """Train a validated run ``config`` into the run directory ``out``, checkpointing.

    What ``circuitlearn train`` does: every ``checkpoint_every`` steps (0: never) the loop's
    state goes to ``Checkpoint.beside(out, config)``; Ctrl-C saves the partial run in ``out``
    (marked ``INCOMPLETE``) and raises ``TrainingInterrupted`` saying how to resume; with
    ``resume`` the run continues from the checkpoint and replaces that partial run. The
    checkpoint is removed once the run is saved.
    """
    out = Path(out)
    checkpoint_every = in_range("checkpoint_every", checkpoint_every, 0, None, integer=True)
    ckpt = Checkpoint.beside(out, config)
    loop = ckpt.load() if resume else None
    replace = overwrite or (resume and is_incomplete(out))
    check_output_dir("--out", out, overwrite=replace)
    if checkpoint_every:
        ckpt.check_writable()
    try:
        result = run_config(
            config,
            progress=progress,
            checkpoint=ckpt.save if checkpoint_every else None,
            checkpoint_every=checkpoint_every or None,
            resume=loop,
        )
    except TrainingInterrupted as exc:
        save(exc.result, out, overwrite=replace)
        step = int(exc.result.history["step"].iloc[-1])
        last = ckpt.step()
        more = f"; rerun with --resume to continue from step {last}" if last is not None else ""
        raise TrainingInterrupted(
            f"stopped after step {step} of {exc.result.config['train']['steps']}: the partial run "
            f"is saved in {out}/ (marked incomplete){more}",
            exc.result,
        ) from None
    save(result, out, overwrite=replace)
    ckpt.remove()
    return result
