"""Inference latency and throughput of four runtimes, side by side in one process (chapter 8.3).

Contenders, on the same model and inputs: eager PyTorch fp32, PyTorch dynamic int8, onnxruntime fp32 and
onnxruntime dynamic int8. Two models: the course's tiny classifier (fine-tuned on English emoji names, so its
accuracy per language is measured under each runtime too) and a base-size encoder (hidden 768, 4 layers,
random weights: speed does not depend on the values). Batch 1 (latency) and batch 32 (throughput), 32 tokens,
every contender with the same number of threads; timings interleaved, median of the repeats.
Writes benchmarks/results/inference_latency.md.

    python benchmarks/inference_latency.py [--repeats 30] [--layers 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

from xlm_course.deployment.compression import (
    OnnxClassifier,
    export_onnx,
    quantize_onnx,
    size_in_bytes,
    torch_dynamic_int8,
)
from xlm_course.runtime import set_threads
from xlm_course.transfer import FineTuneConfig, course_encoders, emoji_category_task, evaluate, finetune

RESULTS = Path(__file__).parent / "results"
SEQUENCE = 32


def inputs_for(config: XLMRobertaConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (batch, SEQUENCE), generator=generator)
    ids[:, 0], ids[:, -1] = config.bos_token_id, config.eos_token_id
    mask = torch.ones_like(ids)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "position_ids": torch.arange(2, SEQUENCE + 2).expand(batch, -1).contiguous()}


def contenders(model, sample, folder: Path, threads: int) -> dict[str, tuple[object, int]]:
    onnx_path = export_onnx(model, sample, folder / "model.onnx")
    int8_path = quantize_onnx(onnx_path, folder / "model-int8.onnx")
    quantized = torch_dynamic_int8(model)
    return {
        "eager fp32": (model, size_in_bytes(model)),
        "torch dynamic int8": (quantized, size_in_bytes(quantized)),
        "onnxruntime fp32": (OnnxClassifier(onnx_path, threads), size_in_bytes(onnx_path)),
        "onnxruntime int8": (OnnxClassifier(int8_path, threads), size_in_bytes(int8_path)),
    }


@torch.no_grad()
def timings(runners: dict[str, tuple[object, int]], batches: dict[int, dict], repeats: int) -> dict:
    """Median seconds per call, per (contender, batch size); the contenders take turns within each repeat."""
    for runner, _ in runners.values():  # warm-up
        for inputs in batches.values():
            runner(**inputs)
    samples = {(name, size): [] for name in runners for size in batches}
    for _ in range(repeats):
        for size, inputs in batches.items():
            for name, (runner, _) in runners.items():
                start = time.perf_counter()
                runner(**inputs)
                samples[(name, size)].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in samples.items()}


def table(title: str, runners, medians, accuracy=None) -> list[str]:
    lines = [f"## {title}", "", "| runtime | MB | batch 1: ms | batch 1: vs eager | batch 32: sequences/s | "
             "batch 32: vs eager |" + (" mean accuracy | worst language (points vs fp32) |" if accuracy else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if accuracy else "")]
    for name, (_, size) in runners.items():
        one, many = medians[(name, 1)], medians[(name, 32)]
        row = (f"| {name} | {size / 1e6:.1f} | {1000 * one:.2f} | {medians[('eager fp32', 1)] / one:.2f}× | "
               f"{32 / many:,.0f} | {medians[('eager fp32', 32)] / many:.2f}× |")
        if accuracy:
            change = 100 * (accuracy[name] - accuracy["eager fp32"])
            row += f" {accuracy[name].mean():.3f} | {change.idxmin()} {change.min():+.1f} |"
        lines.append(row)
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--layers", type=int, default=4, help="layers of the base-size model")
    args = parser.parse_args()
    set_threads()
    lines = ["# Inference latency and throughput", "",
             f"{torch.get_num_threads()} threads for every runtime, {SEQUENCE} tokens per sequence, median of "
             f"{args.repeats} interleaved repeats; torch {torch.__version__}.", ""]
    summary = []
    with tempfile.TemporaryDirectory() as folder:
        # the course's tiny classifier, trained, so that accuracy per language can be compared
        source = course_encoders()["jointly pretrained"]
        task = emoji_category_task()
        tiny = finetune(source, task, task.rows("train", ["en"]), FineTuneConfig(eval_every=None)).model.eval()
        batches = {size: inputs_for(tiny.config, size) for size in (1, 32)}
        runners = contenders(tiny, batches[32], Path(folder) / "tiny", torch.get_num_threads())
        accuracy = {name: evaluate(runner, source, task, device="cpu", precision="fp32")["accuracy"] for name, (runner, _) in runners.items()}
        medians = timings(runners, batches, args.repeats)
        lines += table(f"Tiny classifier (hidden {tiny.config.hidden_size}, {tiny.config.num_hidden_layers} layers, "
                       "trained)", runners, medians, accuracy)
        # a base-size encoder with random weights
        config = XLMRobertaConfig(vocab_size=tiny.config.vocab_size, hidden_size=768, num_hidden_layers=args.layers,
                                  num_attention_heads=12, intermediate_size=3072, max_position_embeddings=SEQUENCE + 2,
                                  type_vocab_size=1, num_labels=9)
        torch.manual_seed(0)
        base = XLMRobertaForSequenceClassification(config).eval()
        batches = {size: inputs_for(config, size) for size in (1, 32)}
        base_runners = contenders(base, batches[32], Path(folder) / "base", torch.get_num_threads())
        base_medians = timings(base_runners, batches, args.repeats)
        lines += table(f"Base-size encoder (hidden 768, {args.layers} layers, vocabulary {config.vocab_size:,}, "
                       "random weights)", base_runners, base_medians)
        speedup = base_medians[("eager fp32", 32)] / base_medians[("onnxruntime int8", 32)]
        shrink = base_runners["onnxruntime fp32"][1] / base_runners["onnxruntime int8"][1]
        loss = 100 * (accuracy["onnxruntime int8"] - accuracy["eager fp32"])
        summary = [
            f"- base size, batch 32: onnxruntime int8 is {speedup:.2f}× eager fp32 (target ≥ 3×)",
            f"- base size: the int8 ONNX file is {shrink:.2f}× smaller than the fp32 one (target ≥ 3.5×)",
            f"- tiny trained model, onnxruntime int8: mean accuracy change {loss.mean():+.2f} points over 8 languages "
            f"(target ≥ −1); worst language {loss.idxmin()} {loss.min():+.2f}",
        ]
    text = "\n".join(lines + ["## Against the targets", "", *summary, ""])
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inference_latency.md").write_text(text)


if __name__ == "__main__":
    main()
