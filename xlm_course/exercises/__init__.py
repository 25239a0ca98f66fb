"""The exercises (chapters 1–6, 8): :mod:`.checks`, the checks each exercise calls, and :mod:`.student`, which
writes the student notebooks from the solution notebooks (``xlm-course student``)."""

from .checks import (
    CHECKS,
    ExerciseFailed,
    check_align_labels,
    check_attention,
    check_causal_mask,
    check_clip_gradients,
    check_cross_entropy_gradient,
    check_effective_languages,
    check_fertility,
    check_gated_fusion,
    check_info_nce,
    check_int8_quantisation,
    check_joint_objective,
    check_lora_linear,
    check_lora_parameter_count,
    check_macro_f1,
    check_mask_tokens,
    check_masked_accuracy,
    check_mean_reciprocal_rank,
    check_sampling_probabilities,
    check_split_heads,
    check_stable_softmax,
    check_warmup_decay,
)

__all__ = ['CHECKS', 'ExerciseFailed', 'check_align_labels', 'check_attention', 'check_causal_mask', 'check_clip_gradients', 'check_cross_entropy_gradient', 'check_effective_languages', 'check_fertility', 'check_gated_fusion', 'check_info_nce', 'check_int8_quantisation', 'check_joint_objective', 'check_lora_linear', 'check_lora_parameter_count', 'check_macro_f1', 'check_mask_tokens', 'check_masked_accuracy', 'check_mean_reciprocal_rank', 'check_sampling_probabilities', 'check_split_heads', 'check_stable_softmax', 'check_warmup_decay']
