"""`prmkit score --executor ray`: the scoring loop on Ray Data, with the local path's scores, in input order.

The examples are cut into the chunks ``score_examples`` sends (``chunk_size`` each, in input order). Each chunk
is one row of a Ray Dataset: its index and its pickled examples. ``map_batches`` hands the rows, one per call,
to a fixed pool of ``workers`` actors. Each actor loads the scorer once and scores a chunk with
``score_examples``, so the shape checks are the local ones. Chunks, not single examples, are the rows
because a scorer batches inside a chunk (the HF scorer pads by length): with the same chunks it computes the
same numbers. Rows of single examples would let Ray Data cut batches wherever its blocks end.

Order: Ray Data keeps it (``preserve_order``), but the result does not rely on it. The driver puts the
chunks back by index and checks that each came back exactly once, with as many examples as were sent.

Errors: an actor catches what loading or scoring raises and returns it as the chunk's result. The driver
raises the first one that reaches it, naming the chunk's examples. With the order kept, that is the first
failing chunk in input order, so it is the error the local path raises. An actor that dies (out of memory,
a signal) is restarted and its chunk retried up to ``RETRIES`` times. Ray Data's progress bars and console
logs are off during the run; its log file in the Ray session folder keeps everything.

Ray is an extra (``pip install 'prmkit[ray]'``); this module imports it only when called.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

from .types import Example

__all__ = ["score_examples_ray"]
_BAD_INPUT = (ValueError, LookupError, OSError, ImportError)  # raised again as ValueError: the CLI's exit 2


class _ChunkScorer:
    """One actor of the pool: a scorer loaded once, scoring one chunk per row.

    Failures come back as data (``error``), never as a raised exception, so the driver can report the first
    one in input order and Ray logs no traceback of its own."""

    def __init__(self, model: str, spec: Optional[str], options: dict) -> None:
        from .backends import load_scorer

        self.scorer, self.error, self.bad_input = None, "", False
        try:
            self.scorer = load_scorer(model, spec=spec, **options)
        except Exception as e:  # noqa: BLE001 - reported with every chunk this actor gets
            self.error = f"loading the scorer failed: {type(e).__name__}: {e}"
            self.bad_input = isinstance(e, _BAD_INPUT)

    def __call__(self, batch: dict) -> dict:
        from .scoring import score_examples

        out: dict[str, list] = {"chunk": [], "examples": [], "error": [], "bad_input": []}
        for chunk, data in zip(batch["chunk"], batch["examples"]):
            scored, error, bad_input = b"", self.error, self.bad_input
            if not error:
                examples = pickle.loads(data)
                try:
                    scored = pickle.dumps(list(score_examples(self.scorer, examples, chunk_size=len(examples))))
                except Exception as e:  # noqa: BLE001 - the driver raises it, naming the chunk
                    error, bad_input = f"{type(e).__name__}: {e}", isinstance(e, _BAD_INPUT)
            for key, value in (("chunk", int(chunk)), ("examples", scored), ("error", error), ("bad_input", bad_input)):
                out[key].append(value)
        return out


def score_examples_ray(model: str, examples: Sequence[Example], *, spec: Optional[str] = None, workers: int = 2,
                       chunk_size: int = 64, num_gpus: float = 0, address: Optional[str] = None,
                       scorer_options: Optional[dict] = None,
                       progress: Optional[Callable[[str, int], Any]] = None) -> list[Example]:
    """``examples`` with ``scores`` set, in input order, scored by ``workers`` Ray actors.

    The same scores as ``list(score_examples(load_scorer(model, spec=spec), examples, chunk_size=chunk_size))``.

    Args:
        model, spec, scorer_options: what each actor passes to ``load_scorer(model, spec=spec, **scorer_options)``.
        workers: actors in the pool, each with 1 CPU and ``num_gpus`` GPUs (an HF model on CUDA wants 1).
        chunk_size: examples per ``scorer.score`` call, as in ``score_examples``.
        address: the Ray cluster (``prmkit.cluster.ray_runtime``); ``None``: Ray as initialised in this
            process, else a local runtime on 127.0.0.1 for this call.
        progress: ``progress(description, total)`` may return a callable, advanced once per scored example
            as the chunks come back (while the actors are alive).

    Raises:
        ValueError: the cluster has too few CPUs or GPUs for the pool (it would wait for them forever), or
            loading or scoring failed on bad input (named by the chunk's examples).
        RuntimeError: any other failure on a worker.
    """
    from .cluster import RETRIES, check_room, ray_runtime

    if workers < 1 or chunk_size < 1:
        raise ValueError(f"--workers {workers} and chunk size {chunk_size} must be at least 1")
    chunks = [list(examples[i:i + chunk_size]) for i in range(0, len(examples), chunk_size)]
    if not chunks:
        return []
    workers = min(workers, len(chunks))  # an actor with no chunk would only load the model
    with ray_runtime(address) as ray, _quiet_ray_data() as ray_data:
        check_room(ray, workers, num_gpus)
        rows = [{"chunk": c, "examples": pickle.dumps(part)} for c, part in enumerate(chunks)]
        with warnings.catch_warnings():
            # Ray 2.60 deprecates remote keywords but names no replacement for these two; without them a
            # chunk that kills its actor (out of memory) is retried forever, where this stops after RETRIES
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
            ds = ray_data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                _ChunkScorer, batch_size=1, compute=ray_data.ActorPoolStrategy(size=workers),
                fn_constructor_kwargs={"model": model, "spec": spec, "options": dict(scorer_options or {})},
                num_cpus=1, num_gpus=num_gpus or None, max_restarts=RETRIES, max_task_retries=RETRIES)
        advance = progress("scoring on Ray", len(examples)) if progress else None
        done: dict[int, list[Example]] = {}
        stream = iter(ds.iter_rows())
        try:
            for row in stream:
                c = int(row["chunk"])
                if row["error"]:
                    raise _failure(c, chunks[c], chunk_size, row["error"], bool(row["bad_input"]))
                if c in done:
                    raise RuntimeError(f"Ray Data returned chunk {c} twice")
                done[c] = pickle.loads(row["examples"])
                if advance:
                    for _ in done[c]:
                        advance()
        except ray.exceptions.RayError as e:  # an actor died RETRIES times; its story is in the Ray logs
            raise RuntimeError(f"scoring on Ray failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}") from e
        finally:
            stream.close()  # stops the executor and its actors now, not when the iterator is collected
    missing = [c for c in range(len(chunks)) if len(done.get(c, ())) != len(chunks[c])]
    if missing:
        raise RuntimeError(f"Ray Data returned {len(chunks) - len(missing)} of {len(chunks)} chunks whole; "
                           f"chunk {missing[0]} is missing or short")
    return [ex for c in range(len(chunks)) for ex in done[c]]


def _failure(c: int, part: list[Example], chunk_size: int, error: str, bad_input: bool) -> Exception:
    """The error of chunk ``c``: its examples by 1-based position and id, then what the worker raised."""
    first = c * chunk_size + 1
    ids = ", ".join(str(ex.problem.id) for ex in part[:3]) + (", ..." if len(part) > 3 else "")
    text = f"scoring examples {first}-{first + len(part) - 1} (ids {ids}) failed on a Ray worker: {error}"
    return ValueError(text) if bad_input else RuntimeError(text)


@contextmanager
def _quiet_ray_data() -> Iterator[Any]:
    """``ray.data``, with order kept and no progress bars or console logs; the settings are restored after."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.print_on_execution_start, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars, ctx.print_on_execution_start, ctx.execution_options.preserve_order = False, False, True
    # Ray Data's console handler (the file handler keeps logging): "progress bars disabled", "execution finished"
    consoles = [h for h in logging.getLogger("ray.data").handlers if type(h).__name__ == "PlainRayHandler"]
    levels = [h.level for h in consoles]
    for h in consoles:
        h.setLevel(logging.CRITICAL)
    try:
        yield ray.data
    finally:
        ctx.enable_progress_bars, ctx.print_on_execution_start, ctx.execution_options.preserve_order = saved
        for h, level in zip(consoles, levels):
            h.setLevel(level)
