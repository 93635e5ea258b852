"""Evaluation: SemanticKITTI scoring and benchmark submission files."""
from .semantickitti_metric import SemanticKittiMetric, prediction_path, read_prediction, score_submission

__all__ = ['SemanticKittiMetric', 'prediction_path', 'read_prediction', 'score_submission']
