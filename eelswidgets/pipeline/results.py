"""What a pipeline run returns, and the failure value that travels down a file's chain."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Failed", "FileResult", "PipelineError", "PipelineSummary", "stage"]


@dataclass(frozen=True)
class FileResult:
    """What happened to one input of :func:`run_pipeline`.

    Attributes
    ----------
    source : pathlib.Path
        The input file.
    output : pathlib.Path or None
        The maps file written (None when this input failed).
    lazy : bool
        Whether it took the chunked path.
    shapes : dict of str to tuple
        Shape of every array written (``maps``, ``spectra``, ``latent``, ...).
    error : str or None
        ``"<stage>: <ExceptionType>: <message>"`` when it failed.
    """

    source: Path
    output: Path | None
    lazy: bool
    shapes: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the maps of this input were written."""
        return self.error is None


@dataclass(frozen=True)
class PipelineSummary:
    """The result of :func:`run_pipeline`: one :class:`FileResult` per input, in order."""

    results: tuple[FileResult, ...]

    @property
    def written(self) -> list[Path]:
        """The maps files written."""
        return [r.output for r in self.results if r.ok]

    @property
    def failed(self) -> list[FileResult]:
        """The inputs that failed (each with its error)."""
        return [r for r in self.results if not r.ok]

    def __repr__(self) -> str:
        lines = [f"<PipelineSummary: {len(self.written)} of {len(self.results)} written>"]
        for r in self.results:
            what = (", ".join(f"{k} {v}" for k, v in r.shapes.items()) if r.ok
                    else f"FAILED {r.error}")
            lines.append(f"  {r.source.name}{' (chunked)' if r.lazy else ''}: {what}")
        return "\n".join(lines)


class PipelineError(RuntimeError):
    """Some inputs failed; ``.summary`` holds every result (the others were written)."""

    def __init__(self, summary: PipelineSummary):
        self.summary = summary
        failed = summary.failed
        lines = [f"{len(failed)} of {len(summary.results)} input(s) failed "
                 f"({len(summary.written)} maps file(s) written):"]
        lines += [f"  {r.source}: {r.error}" for r in failed]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Failed:
    """An error travelling down a file's chain in place of its value."""

    stage: str
    message: str

    @classmethod
    def of(cls, stage: str, exc: BaseException) -> Failed:
        """The failure of ``stage`` with ``exc`` (its type and message, as text)."""
        return cls(stage, f"{type(exc).__name__}: {exc}")

    def __str__(self) -> str:
        return f"{self.stage}: {self.message}"


def stage(name: str):
    """Run a stage only when no argument is a failure; turn its exception into a failure."""
    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            for a in (*args, *kwargs.values()):
                if isinstance(a, Failed):
                    return a
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                return Failed.of(name, exc)
        return run
    return wrap

