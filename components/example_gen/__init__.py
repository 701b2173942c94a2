"""UnirecExampleGen: a dataset in, train/eval/candidates tf.Examples out."""
