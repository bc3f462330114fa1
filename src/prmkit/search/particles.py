"""Particle filtering and Particle Gibbs over steps (Puri et al. 2025, "A Probabilistic Inference Approach to
Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods").

``n`` particles are written one step at a time, together. After each step a particle's weight is its newest step's
score made a potential: ``exp(log-odds(score) / temperature)`` (``weight="log-odds"``) or ``exp(score /
temperature)`` (``weight="softmax"``). A particle's log-weight is the change of its potential since it was last
resampled, so a population that is not resampled at every step still targets the newest scores (sequential
importance sampling). When the effective sample size ``1 / sum(w^2)`` falls below ``ess_threshold * n``, the
population is resampled (``multinomial`` or ``systematic``) and the weights reset. Finished particles stay in the
population with their weights (they can be resampled, never extended), so the candidates are the ``n`` final
particles, duplicates included: the weighted vote is over the population.

A resampled particle is the same ``Node`` as its parent, so an incremental scorer reads its children on top of
the parent's cached state: nothing is copied. Particles that share a parent are sampled in one call
(``StepPolicy.expand_counts``). With the scorer ``"self-certainty"`` the potentials are the policy's own certainty
in each step, with no PRM.

``particle_gibbs`` runs ``iterations`` filters of ``n // iterations`` particles; each keeps one reference particle,
drawn by weight from the last filter's final population, whose steps it replays instead of sampling them
(conditional SMC). Its candidates are every filter's final particles.
"""

from __future__ import annotations

import math
import random
from typing import Any, Optional, Sequence

from ..types import Problem
from .primitives import Compute, Node, StepPolicy, score_nodes
from .strategies import SearchResult, _result

__all__ = ["particle_filtering", "particle_gibbs", "effective_sample_size", "multinomial", "systematic",
           "RESAMPLERS", "WEIGHTS", "check_options"]

_EPS = 1e-6


def _normalise(log_weights: Sequence[float]) -> list[float]:
    top = max(log_weights)
    w = [math.exp(x - top) for x in log_weights]
    total = math.fsum(w)
    return [x / total for x in w]


def effective_sample_size(weights: Sequence[float]) -> float:
    """``1 / sum(w^2)`` of normalised weights: ``n`` when equal, 1 when one particle holds all the weight.

    Example:
        >>> effective_sample_size([0.25] * 4), effective_sample_size([1.0, 0.0])
        (4.0, 1.0)
    """
    return 1.0 / math.fsum(w * w for w in weights)


def multinomial(weights: Sequence[float], k: int, rng: random.Random) -> list[int]:
    """``k`` indices drawn independently in proportion to ``weights``."""
    return rng.choices(range(len(weights)), weights=weights, k=k)


def systematic(weights: Sequence[float], k: int, rng: random.Random) -> list[int]:
    """``k`` indices from one uniform draw and ``k`` evenly spaced points on the cumulative weights: each index is
    kept ``floor(k w)`` or ``ceil(k w)`` times, less variance than multinomial.

    Example:
        >>> systematic([0.5, 0.25, 0.25], 4, random.Random(0))
        [0, 0, 1, 2]
    """
    u, out, cumulative, i = rng.random() / k, [], weights[0], 0
    for j in range(k):
        while u + j / k > cumulative and i < len(weights) - 1:
            i += 1
            cumulative += weights[i]
        out.append(i)
    return out


RESAMPLERS = {"multinomial": multinomial, "systematic": systematic}
WEIGHTS = ("log-odds", "softmax")


def _potential(score: Optional[float], weight: str, temperature: float) -> Optional[float]:
    """The log-potential of a step's score; None for an unscored step (its particle keeps its weight)."""
    if score is None:
        return None
    if weight == "log-odds":
        s = min(max(score, _EPS), 1 - _EPS)
        return math.log(s / (1 - s)) / temperature
    return score / temperature


def _filter(problem: Problem, policy: StepPolicy, scorer: Any, n: int, compute: Compute, rng: random.Random,
            seed: Optional[int], weight: str, temperature: float, resample: str, ess_threshold: float,
            reference: Optional[Node] = None) -> tuple[list[Node], list[float]]:
    """One filter of ``n`` particles (particle 0 replays ``reference`` if given); the final particles and their
    normalised weights."""
    draw = RESAMPLERS[resample]
    particles, base = [Node()] * n, [0.0] * n  # base: the log-potential when the particle was last resampled
    log_w = [0.0] * n
    for depth in range(policy.max_steps):
        open_ = [i for i, p in enumerate(particles) if not p.done and not (reference is not None and i == 0)]
        if reference is not None and not particles[0].done:  # the reference's next step, already written and scored
            k = len(particles[0].steps) + 1
            particles[0] = Node(reference.steps[:k], reference.scores[:k], k >= len(reference.steps),
                                reference.logprobs[:k],
                                reference.logprob_tokens[:k])
            _reweigh(particles, base, log_w, [0], weight, temperature)
        if not open_ and (reference is None or particles[0].done):
            break
        parents: dict[int, list[int]] = {}
        for i in open_:  # particles that are one node share its sampling call
            parents.setdefault(id(particles[i]), []).append(i)
        groups = list(parents.values())
        kids = policy.expand_counts(problem, [particles[g[0]] for g in groups], [len(g) for g in groups], compute,
                                    None if seed is None else seed + depth)
        for g, children in zip(groups, kids):
            for i, child in zip(g, children):
                particles[i] = child
        scored = score_nodes(scorer, problem, [particles[i] for i in open_], compute)
        for i, node in zip(open_, scored):
            particles[i] = node
        _reweigh(particles, base, log_w, open_, weight, temperature)
        weights = _normalise(log_w)
        if effective_sample_size(weights) < ess_threshold * n:
            fixed = 1 if reference is not None else 0  # the reference is never resampled away
            picks = list(range(fixed)) + draw(weights, n - fixed, rng)
            particles = [particles[j] for j in picks]
            base = [_newest(p, weight, temperature) or 0.0 for p in particles]
            log_w = [0.0] * n
    return particles, _normalise(log_w)


def _reweigh(particles: list[Node], base: list[float], log_w: list[float], which: Sequence[int], weight: str,
             temperature: float) -> None:
    for i in which:
        v = _newest(particles[i], weight, temperature)
        if v is not None:
            log_w[i] = v - base[i]


def _newest(particle: Node, weight: str, temperature: float) -> Optional[float]:
    """The log-potential of the particle's newest step (None: no step scored)."""
    return _potential(particle.scores[-1], weight, temperature) if particle.scores else None


def particle_filtering(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, aggregate: str = "min",
                       weight: str = "log-odds", temperature: float = 1.0, resample: str = "systematic",
                       ess_threshold: float = 1.0, seed: Optional[int] = None) -> SearchResult:
    """``n`` particles, resampled by their newest step's score when the effective sample size drops below
    ``ess_threshold * n`` (the default 1.0: at every step, as the paper does; docs/search.md measures 0.5)."""
    check_options(weight, resample, temperature)
    compute = Compute()
    particles, _ = _filter(problem, policy, scorer, n, compute, random.Random(seed), seed, weight, temperature,
                           resample, ess_threshold)
    return _result(problem, scorer, particles, compute, aggregate, policy.answer_style)


def particle_gibbs(problem: Problem, policy: StepPolicy, scorer: Any, n: int, *, iterations: int = 2,
                   aggregate: str = "min", weight: str = "log-odds", temperature: float = 1.0,
                   resample: str = "systematic", ess_threshold: float = 1.0,
                   seed: Optional[int] = None) -> SearchResult:
    """``iterations`` filters of ``n // iterations`` particles (at least 1), each conditioned on a reference
    particle drawn by weight from the filter before; the candidates are all their final particles."""
    check_options(weight, resample, temperature)
    compute, rng = Compute(), random.Random(seed)
    per = max(1, n // iterations)
    candidates: list[Node] = []
    reference = None
    for it in range(iterations):
        particles, weights = _filter(problem, policy, scorer, per, compute, rng,
                                     None if seed is None else seed + 100_003 * it, weight, temperature, resample,
                                     ess_threshold, reference)
        candidates += particles
        reference = particles[multinomial(weights, 1, rng)[0]]
    return _result(problem, scorer, candidates, compute, aggregate, policy.answer_style)


def check_options(weight: str, resample: str, temperature: float) -> None:
    """Raises ValueError for an unknown weight or resampling, or a temperature that is not above 0."""
    if weight not in WEIGHTS:
        raise ValueError(f"unknown particle weight {weight!r}; known: {', '.join(WEIGHTS)}")
    if resample not in RESAMPLERS:
        raise ValueError(f"unknown resampling {resample!r}; known: {', '.join(RESAMPLERS)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be more than 0, got {temperature}")
