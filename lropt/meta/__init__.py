"""Meta-training: functional inner optimisers, truncated unrolls, gradient estimators, the outer trainer."""
