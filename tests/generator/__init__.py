"""Tests of the crystal diffusion model."""
