"""Property surrogates with calibrated uncertainty, exposed as BoTorch models."""
