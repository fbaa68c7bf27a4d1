"""Optimizers and learning-rate schedules for BERT: AdamW/LAMB with warm-up and decay.

Weight decay skips LayerNorm parameters and biases, as in the original BERT recipe. Clipping
and gradient accumulation are the Keras optimizer options (`global_clipnorm`,
`gradient_accumulation_steps`); nothing here reimplements them.
"""

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
    >>> float(schedule(50)), float(schedule(100)), float(schedule(1000))
    (5e-05, 0.0001, 0.0)
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


def create_optimizer(learning_rate, total_steps, *, warmup_steps=None, warmup_ratio=0.1,
                     optimizer="adamw", weight_decay=0.01, global_clipnorm=1.0,
                     end_learning_rate=0.0, power=1.0, gradient_accumulation_steps=None,
                     epsilon=1e-6, beta_1=0.9, beta_2=0.999):
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

    Example:
    >>> opt = create_optimizer(5e-5, total_steps=1000)
    >>> type(opt).__name__
    'AdamW'
    """
    if warmup_steps is None:
        warmup_steps = int(round(warmup_ratio * total_steps))
    schedule = WarmupPolynomialDecay(learning_rate, total_steps, warmup_steps,
                                     end_learning_rate=end_learning_rate, power=power)
    common = dict(learning_rate=schedule, global_clipnorm=global_clipnorm,
                  gradient_accumulation_steps=gradient_accumulation_steps, epsilon=epsilon,
                  beta_1=beta_1, beta_2=beta_2)
    name = optimizer.lower()
    if name == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=weight_decay, **common)
    elif name == "lamb":
        opt = keras.optimizers.Lamb(weight_decay=weight_decay, **common)
    elif name == "adam":
        opt = keras.optimizers.Adam(**common)
    else:
        raise ValueError(f"optimizer={optimizer!r}: expected 'adamw', 'lamb' or 'adam'")
    if name != "adam":
        opt.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return opt
