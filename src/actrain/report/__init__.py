"""What a run shows: `report.md`, its agent and critic tables, plots and model cards."""
