"""Property surrogates with calibrated uncertainty, exposed as BoTorch models.

- :mod:`surrogates.surrogate`: :class:`~surrogates.surrogate.Surrogate`, the object the agent
  uses: structure features, a BoTorch ``ModelList`` over the targets and the HHI, incremental
  ``add``/``refit``, ``save``/``load``.
- :mod:`surrogates.network`: MatGL networks (build, warm start, train, embed, save).
- :mod:`surrogates.head`: the calibrated GP head on embeddings.
- :mod:`surrogates.hhi`: supply-risk HHI from composition, as a deterministic BoTorch model.
- :mod:`surrogates.train`: ``train(config)`` and ``evaluate(...)`` behind the command line.
- :mod:`surrogates.config`, :mod:`surrogates.metrics`, :mod:`surrogates.errors`.

Submodules are imported on demand so that the errors stay cheap to import.
"""
