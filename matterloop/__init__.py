"""matterloop: inverse materials design by active learning.

One import package whose subpackages keep the repository's top-level folders:

- :mod:`matterloop.generator` (``generator/``): crystal data and the guided diffusion model;
- :mod:`matterloop.surrogates` (``surrogates/``): MatGL embeddings with calibrated GP heads;
- :mod:`matterloop.oracles` (``oracles/``): DFT, ML potentials and users' ASE calculators;
- :mod:`matterloop.agent` (``agent/``): the campaign on Ray and the ``matterloop`` CLI.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("matterloop")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "unknown"
