"""What a profile's pretraining costs, counted, and what it would take on a free Colab T4 (issue: the colab profile).

Pretraining is the one step of the course whose cost grows with the profile (every other run has a fixed number
of steps at the pretrained encoder's size, and is a fraction of a pretraining run). For each profile this script
builds the real joint step of chapter 3.2 (MLM + TLM + contrastive, ``PretrainingTask``'s own batches and loss)
and counts, on the CPU:

* its FLOPs, forward and backward, operator by operator (``torch.utils.flop_counter.FlopCounterMode``);
* its operator calls (each one a kernel launch on a GPU), with a ``TorchDispatchMode`` that counts them;
* and, for the ``ci`` profile, its time on this CPU (the course's loop, the precision ``setup()`` picks here).

A GPU step is then estimated as ``FLOPs / sustained throughput + operators × launch cost``. Both GPU figures are
*assumptions*, given as options: the defaults are a T4's usual sustained fp16 throughput on small transformer
matrices (about 12 TFLOP/s, a fifth of its 65 TFLOP/s tensor-core peak; a T4 has no bf16, so the course runs fp16
autocast with a gradient scaler there) and about 10 µs per launched operator (launch plus Python dispatch). No GPU
was lent to the task that wrote this script: ``make test-gpu`` on a T4 measures the real times and replaces them.
Writes benchmarks/results/colab_budget.md.

    python benchmarks/colab_budget.py [--gpu-tflops 12] [--launch-us 10] [--steps 3] [--budget-minutes 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from xlm_course.models import count_parameters
from xlm_course.models.encoder import build_encoder, encoder_config
from xlm_course.pretraining import PretrainingSetup, PretrainingTask, data_for
from xlm_course.runtime import PROFILES, autocast, choose_precision, set_threads
from xlm_course.text.inputs import POSITION_OFFSET

RESULTS = Path(__file__).parent / "results"
# What each profile pretrains from a cold cache, per notebook (a fresh Colab session has no course cache): the
# encoders it trains or loads, as written in the notebooks. 3.2/3.4/5.2 and the applications share two setups.
PRETRAININGS_PER_NOTEBOOK = {
    "3.2 joint pretraining": 1, "3.3 ablation": 4, "3.4 fine-tuning and transfer": 2, "4.1 objectives derived": 3,
    "6.x applications (each)": 1, "8.x deployment (each)": 1,
}


class OperatorCount(TorchDispatchMode):
    """Counts the ATen operators a block runs: on a GPU, each is (at least) one kernel launch."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 - torch's signature
        self.count += 1
        return func(*args, **(kwargs or {}))


def joint_step(profile: str) -> tuple[torch.nn.Module, PretrainingTask, PretrainingSetup]:
    setup = PretrainingSetup(profile=profile).resolved()
    data = data_for(setup)
    config = encoder_config(len(data.tokenizer), setup.languages, PROFILES[profile],
                            max_position_embeddings=setup.max_length + POSITION_OFFSET)
    return build_encoder(config, seed=0), PretrainingTask(setup, data), setup


def count(model: torch.nn.Module, task: PretrainingTask, steps: int) -> tuple[float, float]:
    """Mean FLOPs and operator calls of one training step (forward + backward) over ``steps`` real batches."""
    flops = operators = 0
    for step in range(steps):
        batch = task.batch_fn(step)
        with FlopCounterMode(display=False) as counter:
            task.loss_fn(model, batch)["loss"].backward()
        flops += counter.get_total_flops()
        with OperatorCount() as ops:
            task.loss_fn(model, batch)["loss"].backward()
        operators += ops.count
        model.zero_grad(set_to_none=True)
    return flops / steps, operators / steps


def cpu_seconds_per_step(model: torch.nn.Module, task: PretrainingTask, steps: int) -> tuple[float, str]:
    precision = choose_precision("cpu")
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    timings = []
    for step in range(steps + 1):  # the first step warms up
        batch = task.batch_fn(step)
        start = time.perf_counter()
        with autocast("cpu", precision):
            loss = task.loss_fn(model, batch)["loss"]
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        timings.append(time.perf_counter() - start)
    return min(timings[1:]), precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu-tflops", type=float, default=12.0, help="assumed sustained GPU throughput")
    parser.add_argument("--launch-us", type=float, default=10.0, help="assumed cost of one operator on the GPU")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--budget-minutes", type=float, default=5.0, help="the most a notebook may take on a T4")
    args = parser.parse_args()
    set_threads()
    rows = []
    for profile in ("ci", "colab"):
        model, task, setup = joint_step(profile)
        flops, operators = count(model, task, args.steps)
        gpu_step = flops / (args.gpu_tflops * 1e12) + operators * args.launch_us * 1e-6
        row = {"profile": profile, "hidden × layers": f"{PROFILES[profile].hidden_size} × {PROFILES[profile].num_layers}",
               "vocabulary": setup.vocab_size, "parameters": count_parameters(model)[1], "steps": setup.steps,
               "GFLOPs per step": flops / 1e9, "operators per step": operators,
               "T4 estimate, s per step": gpu_step, "T4 estimate, min per pretraining": gpu_step * setup.steps / 60}
        if profile == "ci":
            seconds, precision = cpu_seconds_per_step(model, task, args.steps)
            row["this CPU, s per step"] = seconds
            row["this CPU, min per pretraining"] = seconds * setup.steps / 60
            row["this CPU, achieved GFLOP/s"] = flops / seconds / 1e9
            row["CPU precision"] = precision
        rows.append(row)
        print({key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()})
    colab = rows[1]
    lines = ["# Pretraining cost per profile, counted (benchmarks/colab_budget.py)", "",
             f"{torch.get_num_threads()} CPU threads; GPU assumptions: {args.gpu_tflops:g} TFLOP/s sustained, "
             f"{args.launch_us:g} µs per operator (not measured: no GPU was lent).", "",
             "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for row in rows:
        lines.append("| " + " | ".join(f"{row.get(key, ''):.4g}" if isinstance(row.get(key), float) else
                                        str(row.get(key, "")) for key in rows[0]) + " |")
    lines += ["", "Estimated minutes per notebook under `colab` from a cold cache (pretraining only):", "",
              "| notebook | pretrainings | T4 minutes |", "|---|---|---|"]
    for notebook, runs in PRETRAININGS_PER_NOTEBOOK.items():
        lines.append(f"| {notebook} | {runs} | {runs * colab['T4 estimate, min per pretraining']:.1f} |")
    busiest = max(PRETRAININGS_PER_NOTEBOOK.values())
    fitting = int(args.budget_minutes * 60 / (busiest * colab["T4 estimate, s per step"]))
    lines += ["", f"Steps per colab pretraining for the busiest notebook ({busiest} pretrainings) to fit "
              f"{args.budget_minutes:g} minutes on the T4: about {fitting}."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "colab_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
