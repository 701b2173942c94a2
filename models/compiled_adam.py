"""Adam whose dense updates each run as one XLA computation.

tf_keras's Adam compiles its updates with XLA on a GPU only ("optimizer only
benefits from XLA when training on GPU"). On this project's CPUs it does too:
uncompiled, an update of a table is a chain of element-wise ops, each a pass
over the whole table with a temporary of its size. At ML-10M's catalogue (10,679
items x 200 dimensions, the whole-catalogue softmax) the compute threads were busy
210-230 ms a training step plain and 123-132 ms with the updates compiled (the TF
profiler, 30 steps each, twice; wall time per step on the 2-core VM was too uneven
to tell the two apart).
Sparse gradients (`tf.IndexedSlices`) take Adam's own path: their shapes change
from step to step, and XLA would compile each new one.
"""
import tensorflow as tf
import tf_keras


class CompiledAdam(tf_keras.optimizers.Adam):
    """tf_keras Adam with each dense update compiled by XLA."""

    def _update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            return super()._update_step(gradient, variable)
        # A key per variable, so that two variables of one shape get a trace each.
        return self._compiled_update_step(gradient, variable, id(self._var_key(variable)))

    @tf.function(jit_compile=True)
    def _compiled_update_step(self, gradient, variable, key):
        return super()._update_step(gradient, variable)
