"""The floor every other package stands on, importing none of them: the error root
(:mod:`~matterloop.core.errors`), typed YAML configs (:mod:`~matterloop.core.config`), MLflow
tracking (:mod:`~matterloop.core.tracking`), oracle results and their append-only journal files
(:mod:`~matterloop.core.result`, :mod:`~matterloop.core.results_file`,
:mod:`~matterloop.core.journal`), atomic writes and a single-writer lock
(:mod:`~matterloop.core.atomic`, :mod:`~matterloop.core.writer_lock`), weights-only checkpoints
(:mod:`~matterloop.core.checkpoint`) and ``module:name`` imports (:mod:`~matterloop.core.imports`).
"""
