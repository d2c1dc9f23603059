"""Training the generator: configs, checkpoints, the trainer and reward fine-tuning."""
