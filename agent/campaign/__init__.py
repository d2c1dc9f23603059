"""The campaign agent: the active-learning loop and its parts.

- :mod:`~matterloop.agent.campaign.config`, :mod:`~matterloop.agent.campaign.sections`: the typed
  YAML configuration.
- :mod:`~matterloop.agent.campaign.loop`: :class:`~matterloop.agent.campaign.loop.Campaign`, one
  round after another, made of the parts below.
- :mod:`~matterloop.agent.campaign.proposer` (generation, filters),
  :mod:`~matterloop.agent.campaign.selector` (surrogate, acquisition),
  :mod:`~matterloop.agent.campaign.labeled` (labeling, label tables),
  :mod:`~matterloop.agent.campaign.screening` (two fidelities),
  :mod:`~matterloop.agent.campaign.schedule` (adapter and generator fits).
- :mod:`~matterloop.agent.campaign.store`: the durable campaign directory (resume after a killed
  driver); :mod:`~matterloop.agent.campaign.summary`: what each round did.
- :mod:`~matterloop.agent.campaign.distributed`: oracle, generation and fine-tuning tasks on Ray.
- :mod:`~matterloop.agent.campaign.candidates`, :mod:`~matterloop.agent.campaign.acquisition`,
  :mod:`~matterloop.agent.campaign.fidelity`, :mod:`~matterloop.agent.campaign.pareto`,
  :mod:`~matterloop.agent.campaign.targets`, :mod:`~matterloop.agent.campaign.labels`,
  :mod:`~matterloop.agent.campaign.quantities`, :mod:`~matterloop.agent.campaign.confirm`,
  :mod:`~matterloop.agent.campaign.report`, :mod:`~matterloop.agent.campaign.tracking`: one step
  each.
"""
