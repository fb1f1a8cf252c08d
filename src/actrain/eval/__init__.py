"""Measurements: critic accuracy, agent rollouts and next-action accuracy, paired intervals,
no-model rules, reasoning benchmarks and critic studies."""
