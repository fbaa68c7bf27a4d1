"""Entity spans from BIO / BIOES tag sequences, read with CoNLL / seqeval semantics.

Entities are read the way `conlleval` and seqeval's default mode read them (lenient, not
`strict`): an entity starts at `B-`/`S-`, at an `I-`/`E-` that follows `O` or an entity that
already ended, or wherever the type changes; it ends before `B-`/`S-`/`O`, after `E-`/`S-`, or
where the type changes. So `O I-PER I-PER` holds one PER entity and `B-PER I-LOC` holds two.
Decoders of served tagger outputs and the entity metrics of training both read tags here.
"""

OUTSIDE = "O"
_BEGIN = ("B", "S")
_END = ("E", "S")


def _split_tag(tag, where):
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, entity_type = tag.partition("-")
    if not dash or prefix not in ("B", "I", "E", "S") or not entity_type:
        raise ValueError(f"{where}: tag {tag!r} is neither 'O' nor B-/I-/E-/S-<TYPE>")
    return prefix, entity_type


def get_entities(tags):
    """Entities of one tag sequence, as `(type, first, last)` with inclusive token indices.

    Args:
        tags: a list of tags such as `["B-PER", "I-PER", "O"]` (BIO or BIOES; mixing is read
            leniently as described in the module docstring).

    Returns:
        A list of `(type, first, last)` in order of appearance.

    Raises:
        ValueError: a tag that is neither `O` nor `B-`/`I-`/`E-`/`S-<TYPE>`.

    Example:
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3), ('ORG', 4, 4), ('LOC', 5, 5)]
    >>> get_entities(["S-LOC", "B-PER", "E-PER", "E-PER"])
    [('LOC', 0, 0), ('PER', 1, 2), ('PER', 3, 3)]
    """
    entities = []
    prev_prefix, prev_type, first = OUTSIDE, "", None
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, entity_type = _split_tag(tag, f"tag {i}")
        type_changed = entity_type != prev_type
        ends = prev_prefix != OUTSIDE and (
            prev_prefix in _END or prefix in _BEGIN or prefix == OUTSIDE or type_changed)
        starts = prefix != OUTSIDE and (
            prefix in _BEGIN or prev_prefix == OUTSIDE or prev_prefix in _END or type_changed)
        if ends:
            entities.append((prev_type, first, i - 1))
        if starts:
            first = i
        prev_prefix, prev_type = prefix, entity_type
    return entities
