"""`gather_positions`: the rows of a `[batch, seq, hidden]` tensor at per-sequence positions."""

from keras import ops


def check_positions(positions, name="positions"):
    """Raises one clear `ValueError` unless `positions` is rank 2 (`[batch, num_positions]`).

    Any numeric dtype is accepted and cast to int32 by the caller (functional models may hand
    ids through float-typed layers).
    """
    shape = tuple(positions.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be [batch, num_positions] integer positions, got shape "
                         f"{shape}")


def gather_positions(sequence, positions):
    """Rows `sequence[b, positions[b, i]]` as `[batch, num_positions, hidden]`.

    One flat gather over `batch * seq` rows: cheaper, under XLA and in its gradient, than
    `take_along_axis` with indices broadcast over the hidden axis.

    Args:
        sequence: `[batch, seq, hidden]` tensor.
        positions: `[batch, num_positions]` integer positions in `[0, seq)`.

    Example:
    >>> import numpy as np
    >>> x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    >>> np.asarray(gather_positions(x, np.array([[2], [0]]))).tolist()
    [[[4.0, 5.0]], [[6.0, 7.0]]]
    """
    check_positions(positions)
    shape = ops.shape(sequence)
    batch, seq_len, hidden = shape[0], shape[1], shape[2]
    positions = ops.cast(positions, "int32")
    offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * seq_len, 1)
    flat = ops.reshape(sequence, (-1, hidden))
    return ops.take(flat, positions + offsets, axis=0)
