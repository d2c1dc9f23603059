"""The floor every other package stands on, importing none of them.

- :mod:`~matterloop.core.errors`: the error root;
- :mod:`~matterloop.core.config`: typed YAML configs;
- :mod:`~matterloop.core.tracking`: MLflow, with one ``tracking`` settings section;
- :mod:`~matterloop.core.result`, :mod:`~matterloop.core.results_file`,
  :mod:`~matterloop.core.journal`: oracle results and their append-only journal files;
- :mod:`~matterloop.core.atomic`, :mod:`~matterloop.core.writer_lock`: atomic writes and a
  single-writer lock;
- :mod:`~matterloop.core.checkpoint`: weights-only checkpoints;
- :mod:`~matterloop.core.imports`: ``module:name`` imports;
- :mod:`~matterloop.core.cluster`: starting or joining Ray.
"""
