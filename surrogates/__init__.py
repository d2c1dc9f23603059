"""Property surrogates with calibrated uncertainty, exposed as BoTorch models.

- :mod:`matterloop.surrogates.surrogate`: :class:`~matterloop.surrogates.surrogate.Surrogate`, the
  object the agent uses: structure features, a BoTorch ``ModelList`` over the targets and the
  quantities computed from structures (HHI), incremental ``add``/``refit``, ``save``/``load``.
- :mod:`matterloop.surrogates.network`: MatGL networks (build, warm start, train, embed, save).
- :mod:`matterloop.surrogates.head`: the calibrated GP head on embeddings.
- :mod:`matterloop.surrogates.columns`: an exact feature column (a computed quantity such as the
  HHI) as a deterministic BoTorch model.
- :mod:`matterloop.surrogates.train`: ``train(config)`` and ``evaluate(...)`` behind the command
  line.
- :mod:`matterloop.surrogates.config`, :mod:`matterloop.surrogates.metrics`,
  :mod:`matterloop.surrogates.errors`.

Submodules are imported on demand so that the errors stay cheap to import.
"""
