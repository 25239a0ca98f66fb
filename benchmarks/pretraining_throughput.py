"""Pretraining throughput, side by side in one process (chapter 3; issue: joint pretraining).

Contenders, on the same model, data and batch:
  1. the course's loop (xlm_course.training.train), float32;
  2. transformers' Trainer, float32;
  3. the course's loop with bf16 autocast.
Also: achieved FLOP/s = 6 · parameters · tokens/s, as a fraction of the float32 matrix-multiply peak measured in
the same run. Writes benchmarks/results/pretraining_throughput.md.

    python benchmarks/pretraining_throughput.py [--steps 60] [--hidden 128 --layers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments

from xlm_course.models.encoder import build_encoder, encoder_config
from xlm_course.pretraining import PretrainingSetup, data_for
from xlm_course.runtime import PROFILES, set_threads
from xlm_course.text.batches import encode
from xlm_course.text.masking import mask_tokens, special_ids_of
from xlm_course.training import TrainingConfig, train

RESULTS = Path(__file__).parent / "results"


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n×n matrix product on this CPU (best of three timings)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best


class FixedBatches(Dataset):
    """Pre-built masked batches, one item per batch: both contenders see exactly the same tensors."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batches[index]


def make_batches(steps: int, batch_size: int, max_length: int) -> tuple[list[dict], object, tuple[str, ...]]:
    setup = PretrainingSetup().resolved()
    data = data_for(setup)
    texts, langs = data.monolingual["text"], data.monolingual["lang"]
    special = special_ids_of(data.tokenizer)
    batches = []
    for step in range(steps):
        generator = torch.Generator().manual_seed(step)
        rows = torch.randint(len(texts), (batch_size,), generator=generator).tolist()
        inputs = encode(data.tokenizer, [texts[i] for i in rows], [langs[i] for i in rows], data.language_ids,
                        max_length)
        # pad to max_length so every batch has the same shape (a fair token count for both contenders)
        pad = max_length - inputs["input_ids"].shape[1]
        inputs = {k: torch.nn.functional.pad(v, (0, pad), value=data.tokenizer.pad_token_id if k in
                                             ("input_ids", "position_ids") else 0) for k, v in inputs.items()}
        inputs["input_ids"], inputs["labels"] = mask_tokens(inputs["input_ids"], data.tokenizer.mask_token_id,
                                                            special, len(data.tokenizer), generator=generator)
        batches.append(inputs)
    return batches, data, setup.languages


def course_loop(model, batches, bf16: bool) -> float:
    config = TrainingConfig(steps=len(batches), learning_rate=1e-3, bf16=bf16, progress=False)
    start = time.perf_counter()
    train(model, lambda m, b: {"loss": m(**b).loss}, lambda step: batches[step], config)
    return time.perf_counter() - start


def hf_trainer(model, batches) -> float:
    with tempfile.TemporaryDirectory() as output:
        arguments = TrainingArguments(output_dir=output, per_device_train_batch_size=1, max_steps=len(batches),
                                      learning_rate=1e-3, lr_scheduler_type="linear", logging_strategy="no",
                                      save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
                                      dataloader_num_workers=0, max_grad_norm=1.0, weight_decay=0.01)
        trainer = Trainer(model=model, args=arguments, train_dataset=FixedBatches(batches),
                          data_collator=lambda items: items[0])
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=PROFILES["ci"].hidden_size)
    parser.add_argument("--layers", type=int, default=PROFILES["ci"].num_layers)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender (best is kept)")
    args = parser.parse_args()
    set_threads()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    batches, data, languages = make_batches(args.steps + 5, args.batch_size, args.max_length)
    warmup, timed = batches[:5], batches[5:]
    config = encoder_config(len(data.tokenizer), languages, PROFILES["ci"], hidden_size=args.hidden,
                            num_hidden_layers=args.layers, intermediate_size=4 * args.hidden,
                            num_attention_heads=max(1, args.hidden // 64), max_position_embeddings=args.max_length + 2)
    parameters = sum(p.numel() for p in build_encoder(config).parameters())
    tokens = args.steps * args.batch_size * args.max_length
    peak = matmul_peak(torch.float32)
    peak_bf16 = matmul_peak(torch.bfloat16)
    contenders = {"course loop, fp32": lambda m, b: course_loop(m, b, bf16=False),
                  "transformers Trainer, fp32": hf_trainer,
                  "course loop, bf16 autocast": lambda m, b: course_loop(m, b, bf16=True)}
    for run in contenders.values():
        run(build_encoder(config, seed=0), warmup)  # warm-up: allocator, kernels
    seconds = {name: float("inf") for name in contenders}
    for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every contender
        for name, run in contenders.items():
            seconds[name] = min(seconds[name], run(build_encoder(config, seed=0), timed))
    lines = [
        "# Pretraining throughput",
        "",
        f"Model: XLM-R-style encoder, hidden {args.hidden}, {args.layers} layers, {parameters:,} parameters; "
        f"batch {args.batch_size} × {args.max_length} tokens; {args.steps} timed steps (best of {args.repeats}, interleaved), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}.",
        f"Measured matrix-multiply peak in this run: fp32 {peak / 1e9:.0f} GFLOP/s, bf16 {peak_bf16 / 1e9:.0f} GFLOP/s.",
        "",
        "| contender | tokens/s | vs Trainer | achieved GFLOP/s (6·N·tokens/s) | % of the matmul peak of its dtype |",
        "|---|---|---|---|---|",
    ]
    trainer_rate = tokens / seconds["transformers Trainer, fp32"]
    for name, elapsed in seconds.items():
        rate = tokens / elapsed
        flops = 6 * parameters * rate
        dtype_peak = peak_bf16 if "bf16" in name else peak
        lines.append(f"| {name} | {rate:,.0f} | {rate / trainer_rate:.2f}× | {flops / 1e9:.1f} | "
                     f"{100 * flops / dtype_peak:.0f}% |")
    bf16_speedup = seconds["course loop, fp32"] / seconds["course loop, bf16 autocast"]
    lines += ["", f"bf16 autocast speed-up over fp32 (course loop): {bf16_speedup:.2f}×", ""]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if (args.hidden, args.layers) == (PROFILES["ci"].hidden_size, PROFILES["ci"].num_layers) else \
        f"_h{args.hidden}_l{args.layers}"
    (RESULTS / f"pretraining_throughput{suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
