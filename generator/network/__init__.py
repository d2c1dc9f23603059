"""The periodic score network of the crystal diffusion model."""

from generator.network.conditioning import BlockHook
from generator.network.config import ScoreNetworkConfig
from generator.network.score_network import NetworkOutput, PeriodicScoreNetwork

__all__ = ["BlockHook", "NetworkOutput", "PeriodicScoreNetwork", "ScoreNetworkConfig"]
