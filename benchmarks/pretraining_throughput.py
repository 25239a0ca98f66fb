"""Pretraining throughput, side by side in one process (chapter 3; issue: joint pretraining).

Contenders, on the same model, data and batches:
  1. the course's loop (xlm_course.training.train), float32;
  2. transformers' Trainer, float32;
  3. the course's loop with bf16 autocast.
Each runs two workloads: the course's MLM loss (the vocabulary projection on the masked positions only,
xlm_course.objectives.masked_lm_loss, what chapter 3 trains) and transformers' default (logits at every position,
85% of them ignored by the loss). Achieved FLOP/s is reported two ways: FLOPs counted by torch's FlopCounterMode
on the very batches timed (forward + backward), and the usual estimate 6 · parameters · tokens/s; each as a
fraction of the matrix-multiply peak of its dtype measured in the same run.
Writes benchmarks/results/pretraining_throughput[_hH_lL].md.

    python benchmarks/pretraining_throughput.py [--steps 40] [--hidden 128 --layers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torch.utils.flop_counter import FlopCounterMode
from transformers import Trainer, TrainingArguments, XLMRobertaForMaskedLM

from xlm_course.models.encoder import build_encoder, encoder_config
from xlm_course.objectives import masked_lm_loss
from xlm_course.pretraining import PretrainingSetup, data_for
from xlm_course.runtime import PROFILES, set_threads
from xlm_course.text.inputs import POSITION_OFFSET, encode
from xlm_course.text.masking import mask_batch
from xlm_course.training import TrainingConfig, train

RESULTS = Path(__file__).parent / "results"
Batch = dict[str, torch.Tensor]
Loss = Callable[[XLMRobertaForMaskedLM, Batch], torch.Tensor]

WORKLOADS: dict[str, Loss] = {
    "course MLM loss (vocabulary head on the masked positions)": masked_lm_loss,
    "transformers' default loss (logits at every position)": lambda model, batch: model(**batch).loss,
}


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
    """Pre-built masked batches, one item per batch: every contender sees exactly the same tensors."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> Batch:
        return self.batches[index]


class LossModule(torch.nn.Module):
    """The model with a workload's loss as its forward, so that Trainer optimises exactly what the loop does."""

    accepts_loss_kwargs = False  # Trainer must not pass num_items_in_batch

    def __init__(self, model: XLMRobertaForMaskedLM, loss: Loss) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.loss(self.model, batch)}


def make_batches(steps: int, batch_size: int, max_length: int) -> tuple[list[Batch], object, tuple[str, ...]]:
    setup = PretrainingSetup().resolved()
    data = data_for(setup)
    texts, langs = data.monolingual["text"], data.monolingual["lang"]
    batches = []
    for step in range(steps):
        generator = torch.Generator().manual_seed(step)
        rows = torch.randint(len(texts), (batch_size,), generator=generator).tolist()
        inputs = encode(data.tokenizer, [texts[i] for i in rows], [langs[i] for i in rows], data.language_ids,
                        max_length)
        # pad to max_length so every batch has the same shape (a fair token count for every contender)
        pad = max_length - inputs["input_ids"].shape[1]
        inputs = {k: torch.nn.functional.pad(v, (0, pad), value=data.tokenizer.pad_token_id if k in
                                             ("input_ids", "position_ids") else 0) for k, v in inputs.items()}
        inputs = mask_batch(inputs, data.tokenizer, generator)
        batches.append(inputs)
    return batches, data, setup.languages


def counted_flops(model: XLMRobertaForMaskedLM, loss: Loss, batches: list[Batch]) -> int:
    """Forward + backward FLOPs of these batches, counted operator by operator (matrix products)."""
    with FlopCounterMode(display=False) as counter:
        for batch in batches:
            loss(model, batch).backward()
    return counter.get_total_flops()


def course_loop(model: XLMRobertaForMaskedLM, loss: Loss, batches: list[Batch], bf16: bool) -> float:
    config = TrainingConfig(steps=len(batches), warmup_steps=0, learning_rate=1e-3, device="cpu",
                            precision="bf16" if bf16 else "fp32", progress=False)
    start = time.perf_counter()
    train(model, lambda m, b: {"loss": loss(m, b)}, lambda step: batches[step], config)
    return time.perf_counter() - start


def hf_trainer(model: XLMRobertaForMaskedLM, loss: Loss, batches: list[Batch]) -> float:
    with tempfile.TemporaryDirectory() as output:
        arguments = TrainingArguments(output_dir=output, per_device_train_batch_size=1, max_steps=len(batches),
                                      learning_rate=1e-3, lr_scheduler_type="linear", logging_strategy="no",
                                      save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True,
                                      dataloader_num_workers=0, max_grad_norm=1.0, weight_decay=0.01,
                                      remove_unused_columns=False)
        trainer = Trainer(model=LossModule(model, loss), args=arguments, train_dataset=FixedBatches(batches),
                          data_collator=lambda items: items[0])
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


CONTENDERS = {
    "course loop, fp32": lambda model, loss, batches: course_loop(model, loss, batches, bf16=False),
    "transformers Trainer, fp32": hf_trainer,
    "course loop, bf16 autocast": lambda model, loss, batches: course_loop(model, loss, batches, bf16=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
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
                            num_attention_heads=max(1, args.hidden // 64), max_position_embeddings=args.max_length + POSITION_OFFSET)
    parameters = sum(p.numel() for p in build_encoder(config).parameters())
    tokens = args.steps * args.batch_size * args.max_length
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    lines = [
        "# Pretraining throughput",
        "",
        f"Model: XLM-R-style encoder, hidden {args.hidden}, {args.layers} layers, {parameters:,} parameters "
        f"(vocabulary {len(data.tokenizer):,}); batch {args.batch_size} × {args.max_length} tokens; {args.steps} "
        f"timed steps (best of {args.repeats}, contenders interleaved), {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}.",
        f"Matrix-multiply peak measured in this run: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
    ]
    summary, rates = [], {}
    for workload, loss in WORKLOADS.items():
        flops = counted_flops(build_encoder(config, seed=0), loss, timed)
        for run in CONTENDERS.values():
            run(build_encoder(config, seed=0), loss, warmup)  # warm-up: allocator, kernels
        seconds = {name: float("inf") for name in CONTENDERS}
        for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every contender
            for name, run in CONTENDERS.items():
                seconds[name] = min(seconds[name], run(build_encoder(config, seed=0), loss, timed))
        lines += [
            "", f"## {workload}", "",
            f"Counted: {flops / args.steps / 1e9:.2f} GFLOP per step (forward + backward); the 6·N estimate: "
            f"{6 * parameters * args.batch_size * args.max_length / 1e9:.2f}.", "",
            "| contender | tokens/s | vs Trainer | GFLOP/s counted | % of peak | GFLOP/s 6·N·tokens/s | % of peak |",
            "|---|---|---|---|---|---|---|",
        ]
        trainer_rate = tokens / seconds["transformers Trainer, fp32"]
        for name, elapsed in seconds.items():
            rate, peak = tokens / elapsed, peaks["bf16" if "bf16" in name else "fp32"]
            counted, estimated = flops / elapsed, 6 * parameters * rate
            lines.append(f"| {name} | {rate:,.0f} | {rate / trainer_rate:.2f}× | {counted / 1e9:.1f} | "
                         f"{100 * counted / peak:.0f}% | {estimated / 1e9:.1f} | {100 * estimated / peak:.0f}% |")
        rates[workload] = tokens / seconds["course loop, fp32"]
        summary.append(f"- {workload}: course loop / Trainer {seconds['transformers Trainer, fp32'] / seconds['course loop, fp32']:.2f}×, "
                       f"bf16 / fp32 {seconds['course loop, fp32'] / seconds['course loop, bf16 autocast']:.2f}×")
    course, default = rates.values()
    summary.append(f"- the masked-positions head over transformers' default loss (course loop, fp32): "
                   f"{course / default:.2f}×")
    note = ("6·N·tokens/s counts one multiply-add per parameter per token forward (×3 with backward): it ignores "
            "the attention scores and overcounts when the vocabulary projection runs on the masked positions only; "
            "the counted column is the measurement.")
    text = "\n".join(lines + ["", "## Ratios", "", *summary, "", note, ""])
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if (args.hidden, args.layers) == (PROFILES["ci"].hidden_size, PROFILES["ci"].num_layers) else \
        f"_h{args.hidden}_l{args.layers}"
    (RESULTS / f"pretraining_throughput{suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
