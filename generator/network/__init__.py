"""The periodic score network of the crystal diffusion model."""

from matterloop.generator.network.conditioning import BlockHook
from matterloop.generator.network.config import ScoreNetworkConfig
from matterloop.generator.network.score_network import NetworkOutput, PeriodicScoreNetwork

__all__ = ["BlockHook", "NetworkOutput", "PeriodicScoreNetwork", "ScoreNetworkConfig"]
