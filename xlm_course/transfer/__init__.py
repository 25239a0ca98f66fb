"""Fine-tune on some languages, test on every language: zero-shot cross-lingual transfer (chapters 3.4–3.5, 6).

Five concepts, one module each: :mod:`.encoders` (the encoders the applications compare), :mod:`.tasks`
(labelled tasks split by concept), :mod:`.finetuning` (config, fine-tuning, prediction, evaluation),
:mod:`.tables` (the zero-shot tables) and :mod:`.published` (the published results they are set beside).
Everything is importable from here.
"""

from .encoders import DOWNSTREAM_SETUP, course_encoder, course_encoders, downstream_mlm, e5_small
from .finetuning import (
    FineTuneConfig,
    FineTuned,
    LinearProbeConfig,
    PooledClassifier,
    evaluate,
    finetune,
    linear_probe,
    predict,
)
from .published import XNLI_PAPER_AVERAGE, xnli_zero_shot
from .tables import (
    few_shot_curve,
    mean_and_std,
    model_selection,
    transfer_matrix,
    transfer_ratio,
    transfer_summary,
    zero_shot_table,
)
from .tasks import ClassificationTask, emoji_category_task, emoji_sentiment_task

__all__ = [
    "DOWNSTREAM_SETUP", "XNLI_PAPER_AVERAGE", "ClassificationTask", "FineTuneConfig", "FineTuned", "LinearProbeConfig", "PooledClassifier", "course_encoder", "course_encoders",
    "downstream_mlm", "e5_small", "emoji_category_task", "emoji_sentiment_task", "evaluate", "few_shot_curve",
    "finetune", "linear_probe", "mean_and_std", "model_selection", "predict",
    "transfer_matrix", "transfer_ratio", "transfer_summary", "xnli_zero_shot", "zero_shot_table",
]
