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

from ._validation import check_output_file
from ._version import __version__
from .errors import ValidationError
from .loop import LoopState
from .store import atomic_write, canonical_hash


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
