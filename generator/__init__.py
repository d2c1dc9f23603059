"""Crystal generation: the data layer and the MatterGen-style diffusion model."""
