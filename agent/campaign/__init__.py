"""The campaign agent: the active-learning loop and its parts.

- :mod:`matterloop.agent.campaign.config`: the typed YAML configuration.
- :mod:`matterloop.agent.campaign.loop`: :class:`~matterloop.agent.campaign.loop.Campaign`, one
  round after another.
- :mod:`matterloop.agent.campaign.store`: the durable campaign directory (resume after a killed
  driver).
- :mod:`matterloop.agent.campaign.distributed`: oracle actors and generation/fine-tuning tasks on
  Ray.
- :mod:`matterloop.agent.campaign.candidates`, :mod:`~matterloop.agent.campaign.acquisition`,
  :mod:`~matterloop.agent.campaign.pareto`, :mod:`~matterloop.agent.campaign.targets`,
  :mod:`~matterloop.agent.campaign.labels`, :mod:`~matterloop.agent.campaign.quantities`,
  :mod:`~matterloop.agent.campaign.tracking`: one step each.
"""
