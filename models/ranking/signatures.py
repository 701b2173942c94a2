"""Names in the ranking SavedModel's signatures that the pipeline's TFMA config reads.

No TensorFlow import: the pipeline builds its Evaluator config without loading the model code.
"""
EXAMPLES = "examples"  # the input of the signatures that take serialized tf.Examples
# Signature names of the implicit-feedback evaluation; SAMPLED_LABELS also names its output.
SAMPLED_SCORES = "sampled_scores"
SAMPLED_LABELS = "sampled_labels"
