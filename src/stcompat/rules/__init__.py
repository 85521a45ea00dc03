"""JUDGE: turn what was read (model, environment) and what is known (kb) into findings."""
