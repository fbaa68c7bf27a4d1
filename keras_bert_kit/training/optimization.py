"""Optimizers and learning-rate schedules for BERT: AdamW/LAMB with warm-up and decay.

Weight decay skips LayerNorm parameters and biases, as in the original BERT recipe. Clipping
and gradient accumulation are the Keras optimizer options (`global_clipnorm`,
`gradient_accumulation_steps`); nothing here reimplements them.
"""

import re

import keras

# Variables whose names contain these get no weight decay (LayerNorm gamma/beta and biases).
NO_DECAY_NAMES = ["bias", "gamma", "beta", "layer_norm", "LayerNorm"]


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `learning_rate`, then polynomial decay to `end_learning_rate`.

    `power=1.0` is BERT's linear decay.

    Args:
        learning_rate: peak rate reached after warm-up.
        total_steps: steps of the whole run (warm-up included).
        warmup_steps: linear warm-up steps from 0.
        end_learning_rate: rate at `total_steps`.
        power: decay exponent (1 = linear).

    Example:
    >>> schedule = WarmupPolynomialDecay(1e-4, total_steps=1000, warmup_steps=100)
    >>> [round(float(schedule(step)), 9) for step in (50, 100, 1000)]
    [5e-05, 0.0001, 0.0]
    """

    def __init__(self, learning_rate, total_steps, warmup_steps=0, end_learning_rate=0.0, power=1.0):
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                f"need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}), total_steps > 0")
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.end_learning_rate = end_learning_rate
        self.power = power

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        decay_steps = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        warm = self.learning_rate * step / warmup
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        decayed = ((self.learning_rate - self.end_learning_rate) * (1.0 - progress) ** self.power
                   + self.end_learning_rate)
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return dict(learning_rate=self.learning_rate, total_steps=self.total_steps,
                    warmup_steps=self.warmup_steps, end_learning_rate=self.end_learning_rate,
                    power=self.power)


class _LearningRateMultipliers:
    """Per-variable learning-rate factors, chosen by the first regex that matches a variable path."""

    def _init_multipliers(self, learning_rate_multipliers):
        self.learning_rate_multipliers = dict(learning_rate_multipliers or {})
        self._compiled_multipliers = [(re.compile(k), float(v))
                                      for k, v in self.learning_rate_multipliers.items()]

    def learning_rate_multiplier(self, path):
        """The factor applied to the scheduled rate for a variable path (1.0 when none matches)."""
        for pattern, factor in self._compiled_multipliers:
            if pattern.search(path):
                return factor
        return 1.0

    def build(self, variables):
        super().build(variables)
        # Factors by variable index: the backend may hand `update_step` its own variable objects.
        self._factors = [self.learning_rate_multiplier(v.path) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = learning_rate * factor
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = self.learning_rate_multipliers
        return config


class _FusedAdamUpdate:
    """Adam's moment and weight update as TensorFlow's one-kernel `ResourceApplyAdam`.

    The formula is `keras.optimizers.Adam.update_step`'s (bias-corrected rate, epsilon added to
    `sqrt(v)`); Keras runs it as ≈ 10 elementwise passes over each weight, which a step that is not
    XLA-compiled (bfloat16 on a CPU) pays in full, and XLA does not fuse them as well either
    (`bench/probe_fused_ops.py --step` times a training step with both updates). Falls back to
    Keras' update for `amsgrad`, other backends and under a `tf.distribute` strategy.
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if (self.amsgrad or keras.backend.backend() != "tensorflow"
                or tf.distribute.has_strategy() or not hasattr(variable, "handle")):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle, beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype), beta1=beta_1,
            beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype))


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class FusedAdam(_FusedAdamUpdate, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update is TensorFlow's fused `ResourceApplyAdam` kernel.

    Same arguments, same updates (to float rounding); one pass over each weight instead of ≈ 10.

    Args:
        **kwargs: `keras.optimizers.Adam` arguments.

    Example:
    >>> opt = FusedAdam(learning_rate=0.1)
    >>> w = keras.Variable([1.0, -1.0])
    >>> opt.apply([keras.ops.convert_to_tensor([0.5, -0.5])], [w])
    >>> [round(float(x), 3) for x in w.numpy()]
    [0.9, -0.9]
    """


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class ScaledAdamW(_LearningRateMultipliers, _FusedAdamUpdate, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with per-variable learning-rate multipliers and a fused update.

    Args:
        learning_rate_multipliers: `{regex: factor}`; a variable whose path matches a regex (the
            first match wins) is updated with `factor` times the scheduled rate. Used for a
            faster-learning new head and layer-wise rate decay (see
            `layerwise_learning_rate_multipliers`). Weight decay uses the unscaled rate.
            The Adam update is `FusedAdam`'s one kernel.
        **kwargs: `keras.optimizers.AdamW` arguments.

    Example:
    >>> opt = ScaledAdamW(learning_rate=1e-3, learning_rate_multipliers={"^logits/": 10.0})
    >>> opt.get_config()["learning_rate_multipliers"]
    {'^logits/': 10.0}
    """

    def __init__(self, *args, learning_rate_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_multipliers(learning_rate_multipliers)


def layerwise_learning_rate_multipliers(num_layers, layer_decay=1.0, head_multiplier=1.0,
                                        head_pattern=None):
    """Multipliers for `create_optimizer`: layer-wise rate decay down the encoder, a head factor.

    Layer `i` of `num_layers` gets `layer_decay ** (num_layers - i)`, the embeddings
    `layer_decay ** (num_layers + 1)`; the pooler keeps the full rate; variables matching
    `head_pattern` (default: anything outside the backbone's embeddings, transformer layers
    and pooler) get `head_multiplier`.

    Example:
    >>> m = layerwise_learning_rate_multipliers(2, layer_decay=0.5, head_multiplier=10.0)
    >>> m["^transformer_layer_1/"], m["^transformer_layer_0/"], m["^embeddings/"]
    (0.5, 0.25, 0.125)
    """
    multipliers = {}
    if layer_decay != 1.0:
        for i in range(num_layers):
            multipliers[f"^transformer_layer_{i}/"] = layer_decay ** (num_layers - i)
        multipliers["^embeddings/"] = layer_decay ** (num_layers + 1)
    if head_multiplier != 1.0:
        backbone = "^(embeddings|transformer_layer_\\d+|pooler)/"
        multipliers.setdefault(backbone, 1.0)
        multipliers[head_pattern or ".*"] = head_multiplier
    return multipliers


def create_optimizer(learning_rate, total_steps, *, warmup_steps=None, warmup_ratio=0.1,
                     optimizer="adamw", weight_decay=0.01, global_clipnorm=1.0,
                     end_learning_rate=0.0, power=1.0, gradient_accumulation_steps=None,
                     epsilon=1e-6, beta_1=0.9, beta_2=0.999, learning_rate_multipliers=None):
    """Builds BERT's optimizer: AdamW (or LAMB/Adam) with warm-up + decay, clipping, no decay on LN/bias.

    Args:
        learning_rate: peak learning rate.
        total_steps: length of the schedule in batches (Keras advances the schedule on every
            batch, also while accumulating gradients: pass `updates * gradient_accumulation_steps`).
        warmup_steps: warm-up steps; default `warmup_ratio * total_steps`.
        warmup_ratio: used when `warmup_steps` is None.
        optimizer: `"adamw"`, `"lamb"` or `"adam"`.
        weight_decay: decoupled weight decay (AdamW/LAMB).
        global_clipnorm: clip gradients to this global norm (None: no clipping).
        end_learning_rate: rate at the end of decay.
        power: decay exponent (1 = linear).
        gradient_accumulation_steps: accumulate this many batches per update (Keras option).
        epsilon, beta_1, beta_2: Adam parameters (BERT uses epsilon 1e-6).
        learning_rate_multipliers: `{regex: factor}` on variable paths (AdamW only; see
            `ScaledAdamW` and `layerwise_learning_rate_multipliers`).

    Example:
    >>> opt = create_optimizer(5e-5, total_steps=1000)
    >>> type(opt).__name__, isinstance(opt, keras.optimizers.AdamW)
    ('ScaledAdamW', True)
    """
    if warmup_steps is None:
        warmup_steps = int(round(warmup_ratio * total_steps))
    schedule = WarmupPolynomialDecay(learning_rate, total_steps, warmup_steps,
                                     end_learning_rate=end_learning_rate, power=power)
    common = dict(learning_rate=schedule, global_clipnorm=global_clipnorm,
                  gradient_accumulation_steps=gradient_accumulation_steps, epsilon=epsilon,
                  beta_1=beta_1, beta_2=beta_2)
    name = optimizer.lower()
    if learning_rate_multipliers and name != "adamw":
        raise ValueError(f"learning_rate_multipliers need optimizer='adamw', not {optimizer!r}")
    if name == "adamw":
        opt = ScaledAdamW(weight_decay=weight_decay,
                          learning_rate_multipliers=learning_rate_multipliers, **common)
    elif name == "lamb":
        opt = keras.optimizers.Lamb(weight_decay=weight_decay, **common)
    elif name == "adam":
        opt = FusedAdam(**common)
    else:
        raise ValueError(f"optimizer={optimizer!r}: expected 'adamw', 'lamb' or 'adam'")
    if name != "adam":
        opt.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return opt
