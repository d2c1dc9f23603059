"""The campaign agent: the active-learning loop and its parts.

- :mod:`agent.campaign.config`: the typed YAML configuration.
- :mod:`agent.campaign.loop`: :class:`~agent.campaign.loop.Campaign`, one round after another.
- :mod:`agent.campaign.store`: the durable campaign directory (resume after a killed driver).
- :mod:`agent.campaign.distributed`: oracle actors and generation/fine-tuning tasks on Ray.
- :mod:`agent.campaign.candidates`, :mod:`~agent.campaign.acquisition`,
  :mod:`~agent.campaign.pareto`, :mod:`~agent.campaign.targets`, :mod:`~agent.campaign.labels`,
  :mod:`~agent.campaign.quantities`, :mod:`~agent.campaign.tracking`: one step each.
"""
