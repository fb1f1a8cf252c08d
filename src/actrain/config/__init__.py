"""The run config: its dataclasses (`schema/`), YAML and override loading, the key
docs `actrain config` prints, and plugins named by import path."""
