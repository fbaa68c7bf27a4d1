"""Recipe switches: XLA on or off for the train step, by precision and device."""

import pytest
import tensorflow as tf

from keras_bert_kit.training.strategy import jit_compile_setting, set_precision

CPU_ONLY = not [d for d in tf.config.list_physical_devices() if d.device_type != "CPU"]


@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_choice_is_kept(given, policy):
    assert jit_compile_setting(given, policy, default=not given) is given


@pytest.mark.parametrize("default", ["auto", True, False])
def test_auto_is_the_recipe_default_at_float32(default):
    assert jit_compile_setting("auto", "float32", default=default) == default


@pytest.mark.skipif(not CPU_ONLY, reason="the rule is for machines with no GPU or TPU")
def test_auto_turns_xla_off_for_bfloat16_on_cpu():
    # XLA:CPU has no bfloat16 GEMM; the classifier recipe's XLA default must not apply.
    assert jit_compile_setting("auto", "mixed_bfloat16", default=True) is False
    assert jit_compile_setting("auto", "mixed_float16", default=True) is True


def test_set_precision_aliases_and_rejects_unknown():
    try:
        assert set_precision("bf16") == "mixed_bfloat16"
        assert set_precision("none") == "float32"
        with pytest.raises(ValueError, match="int8"):
            set_precision("int8")
    finally:
        set_precision("none")
