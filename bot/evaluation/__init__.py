"""How well the assistant understands messages it never saw.

- sets: the evaluation sets (written apart from the training data) and the training data
- parsing: runs messages through a trained model, the full NLU pipeline included
- scoring: per-intent F1, macro-F1, confusion matrix, crisis and out-of-scope rates
- crossval: k-fold cross-validation of an NLU config on the training data
- candidates: the classifier candidates measured side by side (`make compare`)
- report: the markdown report and the confusion-matrix image under results/
"""
