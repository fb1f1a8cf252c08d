"""The command line (`actrain ...`) and the public Python API (`cli/api.py`); nothing in the
engine imports them."""
