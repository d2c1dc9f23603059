"""Ground-truth oracles: DFT, universal ML potentials and user plug-ins."""
