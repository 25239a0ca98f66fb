"""Deployment and efficiency (chapter 8): :mod:`.adapters` (LoRA, bottleneck adapters, prefix tuning written out),
:mod:`.madx` (language and task adapters), :mod:`.compression` (int8, ONNX, pruning), :mod:`.distillation`
(a smaller student from a teacher's soft labels) and :mod:`.distributed` (DDP with torchrun and Accelerate)."""
