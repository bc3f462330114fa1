"""PRM-guided search at test time: strategies built from shared primitives, behind one signature.

``SEARCHERS`` maps names to strategies (``pkg.mod:fn`` plugs in your own): each is called as
``fn(problem, policy, scorer, n, **options)``, returns a ``SearchResult``, and calls
``primitives.release_problem(scorer, problem)`` when it ends, so an incremental PRM frees that problem's caches.
"""

SEARCHERS: dict[str, str] = {
    "best-of-n": "prmkit.search.strategies:best_of_n",
    "early-rejection": "prmkit.search.strategies:early_rejection",
    "beam": "prmkit.search.strategies:beam_search",
    "dvts": "prmkit.search.strategies:dvts",
    "mcts": "prmkit.search.strategies:mcts",
    "particle-filtering": "prmkit.search.particles:particle_filtering",
    "particle-gibbs": "prmkit.search.particles:particle_gibbs",
}

# strategies that also search several problems at once, as ``fn(problems, policy, scorer, n, seeds=[...], **options)``
# returning one ``SearchResult`` per problem, equal to one search each (``prmkit search`` batches these problems)
BATCHED: dict[str, str] = {"best-of-n": "prmkit.search.strategies:best_of_n_batch"}

# how each strategy aggregates step scores unless told (``prmkit search --aggregate``); measured in docs/search.md
DEFAULT_AGGREGATE: dict[str, str] = {"best-of-n": "min", "early-rejection": "min", "beam": "last", "dvts": "last",
                                     "mcts": "min", "particle-filtering": "min", "particle-gibbs": "min"}

__all__ = ["SEARCHERS", "BATCHED", "DEFAULT_AGGREGATE"]
