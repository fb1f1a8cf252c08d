"""A run: the pipeline's steps, where their outputs live (`layout.py`), their fingerprints
(`keys.py`), the checks before a run, its gathered results and `actrain plan`."""
