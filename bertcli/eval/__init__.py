"""Evaluation: ROUGE for summaries (`rouge`), SQuAD 1.1 and 2.0 for answers (`squad`)."""
