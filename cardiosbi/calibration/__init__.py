"""RoPE calibration: fine-tuned real-data encoder + optimal transport onto simulations."""
