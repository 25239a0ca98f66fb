"""The exercise checks (xlm_course.exercises), the student-notebook generator and the command line."""

import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nbclient import NotebookClient

from xlm_course import exercises as ex
from xlm_course.cli import main, parser
from xlm_course.data.sampling import sampling_probabilities
from xlm_course.exercises.student import (
    ANSWER_SUMMARY,
    CODE_BEGIN,
    CODE_END,
    CODE_STUB,
    HIDDEN_BEGIN,
    HIDDEN_END,
    NOTE_ID,
    TEXT_STUB,
    generate,
    strip_code,
    strip_hidden,
    strip_text,
    student_version,
)
from xlm_course.models.attention import scaled_dot_product_attention
from xlm_course.objectives import info_nce, joint_objective
from xlm_course.text.masking import mask_tokens

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))


def _fails(check, candidate, *fragments):
    with pytest.raises(ex.ExerciseFailed) as failure:
        check(candidate)
    message = str(failure.value)
    assert "Hint:" in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _not_written(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", [check for checks in ex.CHECKS.values() for check in checks])
def test_an_unwritten_solution_fails_every_check_with_a_clear_message(check):
    _fails(check, _not_written, "not written yet")


def test_a_crashing_solution_is_reported_not_raised():
    def broken(counts, alpha):
        return counts / alpha  # a list divided by a float: TypeError

    _fails(ex.check_sampling_probabilities, broken, "raised TypeError")


def test_sampling_probabilities_check():
    ex.check_sampling_probabilities(lambda counts, alpha: list(
        sampling_probabilities(dict(enumerate(counts)), alpha).values()))
    _fails(ex.check_sampling_probabilities, lambda counts, alpha: np.array(counts) ** alpha, "sum to")
    _fails(ex.check_sampling_probabilities, lambda counts, alpha: np.full(len(counts), 1 / len(counts)), "α=1.0")


def test_effective_languages_and_fertility_checks():
    ex.check_effective_languages(lambda q: math.exp(-sum(p * math.log(p) for p in q if p > 0)))
    _fails(ex.check_effective_languages, lambda q: -sum(p * math.log(p) for p in q if p > 0), "expected 4.0000")
    ex.check_fertility(lambda tokenize, sentences: sum(len(tokenize(s)) for s in sentences) / sum(
        len(s.split()) for s in sentences))
    _fails(ex.check_fertility, lambda tokenize, sentences: float(np.mean(
        [len(tokenize(s)) / len(s.split()) for s in sentences])), "totals")


def test_attention_checks():
    ex.check_attention(scaled_dot_product_attention)

    def unscaled(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)
        return weights @ v, weights

    _fails(ex.check_attention, unscaled, "√d_k")

    def ignores_mask(q, k, v, mask=None):
        return scaled_dot_product_attention(q, k, v)

    _fails(ex.check_attention, ignores_mask, "masked keys")
    ex.check_split_heads(lambda x, heads: x.view(*x.shape[:2], heads, -1).transpose(1, 2))
    _fails(ex.check_split_heads, lambda x, heads: x.reshape(x.shape[0], heads, x.shape[1], -1), "wrong places")
    ex.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril())
    _fails(ex.check_causal_mask, lambda n: torch.ones(n, n, dtype=torch.bool).triu(), "lower triangle")
    _fails(ex.check_causal_mask, lambda n: torch.ones(n, n).tril(), "boolean")


# Right answers, shared with tests/exercises/test_hidden_cases.py


def align(word_ids, labels):
    out, previous = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == previous else labels[w])
        previous = w
    return out


def gradient(z, y):
    g = torch.softmax(z, -1).clone()
    g[y] -= 1
    return g


def clip(gradients, max_norm):
    total = float(torch.sqrt(sum((g ** 2).sum() for g in gradients)))
    return [g * min(1.0, max_norm / total) for g in gradients]


def accuracy(logits, labels):
    keep = labels != -100
    return float((logits.argmax(-1)[keep] == labels[keep]).float().mean())


def quantise(x):
    scale = float(x.abs().max()) / 127
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale


class Gated(torch.nn.Module):
    """A right answer to chapter 3's gated-fusion task."""

    def __init__(self, text_dim, image_dim, hidden):
        super().__init__()
        self.text, self.image = torch.nn.Linear(text_dim, hidden), torch.nn.Linear(image_dim, hidden)
        self.gate = torch.nn.Linear(text_dim + image_dim, hidden)

    def forward(self, t, v):
        z = torch.sigmoid(self.gate(torch.cat([t, v], -1)))
        return z * torch.tanh(self.text(t)) + (1 - z) * torch.tanh(self.image(v)), z


def test_pretraining_checks():
    ex.check_mask_tokens(lambda ids, mask_id, special, vocab, generator: mask_tokens(
        ids, mask_id, special, vocab, generator=generator))
    _fails(ex.check_mask_tokens, lambda ids, mask_id, special, vocab, generator: mask_tokens(
        ids, mask_id, special, vocab, mlm_probability=0.3, generator=generator), "about 15%")
    _fails(ex.check_mask_tokens, lambda ids, mask_id, special, vocab, generator: mask_tokens(
        ids, mask_id, special, vocab, mask_fraction=1.0, random_fraction=0.0, generator=generator), "80%")
    ex.check_info_nce(lambda a, b, t: info_nce(a, b, t, symmetric=False))
    _fails(ex.check_info_nce, lambda a, b, t: torch.nn.functional.cross_entropy(a @ b.T / t, torch.arange(len(a))),
           "normalise")

    class Swapped(Gated):
        def forward(self, t, v):
            z = torch.sigmoid(self.gate(torch.cat([t, v], -1)))
            return (1 - z) * torch.tanh(self.text(t)) + z * torch.tanh(self.image(v)), z

    ex.check_gated_fusion(Gated)
    _fails(ex.check_gated_fusion, Swapped, "1 − z")


def test_maths_checks():
    ex.check_stable_softmax(lambda x: torch.softmax(x, -1))
    _fails(ex.check_stable_softmax, lambda x: x.exp() / x.exp().sum(-1, keepdim=True), "maximum")

    ex.check_cross_entropy_gradient(gradient)
    _fails(ex.check_cross_entropy_gradient, lambda z, y: torch.softmax(z, -1), "p − y")
    ex.check_joint_objective(lambda mlm, tlm, cross, lam: joint_objective(mlm, tlm, cross, lam))
    _fails(ex.check_joint_objective, lambda mlm, tlm, cross, lam: mlm + (tlm if tlm is not None else 0)
           + (cross if cross is not None else 0), "λ")


def test_strip_code_keeps_indentation_and_checks_markers():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\nprint(f)"
    assert strip_code(source) == f"def f(x):\n    {CODE_STUB}\n\nprint(f)"
    with pytest.raises(ValueError, match="never closed"):
        strip_code("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without"):
        strip_code("x = 1\n### END SOLUTION")
    with pytest.raises(ValueError, match="inside another"):
        strip_code("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION")
    assert strip_text("Q?\n<!-- BEGIN SOLUTION -->\nsecret\n<!-- END SOLUTION -->\n") == f"Q?\n{TEXT_STUB}\n"
    with pytest.raises(ValueError, match="unbalanced"):
        strip_text("<!-- BEGIN SOLUTION -->")


@settings(deadline=None, max_examples=50)
@given(st.lists(st.text(alphabet="abcxyz =+()1", min_size=1, max_size=12), min_size=1, max_size=6),
       st.integers(0, 8))
def test_no_solution_line_survives(secret_lines, indent):
    pad = " " * indent
    secrets = [f"SECRET_{i} = {line!r}" for i, line in enumerate(secret_lines)]
    source = "\n".join(["keep = 1", pad + "### BEGIN SOLUTION", *[pad + s for s in secrets],
                        pad + "### END SOLUTION", "also_keep = 2"])
    stripped = strip_code(source)
    assert "SECRET_" not in stripped and "keep = 1" in stripped and "also_keep = 2" in stripped
    assert pad + CODE_STUB in stripped.splitlines()


def test_a_notebook_without_markers_is_refused():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(ValueError, match="no solution markers"):
        student_version(notebook, "plain.ipynb")


def test_every_chapter_with_checks_has_a_solution_notebook():
    assert [path.name[:2] for path in SOLUTIONS] == sorted(ex.CHECKS)
    for path in SOLUTIONS:
        text = path.read_text()
        for check in ex.CHECKS[path.name[:2]]:
            assert check.__name__ in text, f"{path.name} never calls {check.__name__}"


def test_student_versions_fail_every_check_and_hide_every_solution(tmp_path):
    """No check is vacuous: in each generated student notebook, every cell that runs a check fails."""
    written = main(["student", "--solutions", str(ROOT / "exercises" / "solutions"), "--output", str(tmp_path)])
    assert written == 0
    for path in SOLUTIONS:
        student = nbformat.read(tmp_path / path.name, as_version=4)
        assert "SOLUTION" not in "".join(cell.source for cell in student.cells)
        NotebookClient(student, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        checks = [cell for cell in student.cells if cell.cell_type == "code" and "check_" in cell.source
                  and "import" not in cell.source]
        assert len(checks) >= (2 if path.name.startswith("09") else 5), path.name  # the hygiene test says why
        for cell in checks:
            errors = [output for output in cell.outputs if output.output_type == "error"]
            assert errors and errors[0].ename == "ExerciseFailed", (path.name, cell.source)
            assert "not written yet" in errors[0].evalue


def test_the_committed_student_notebooks_are_what_generate_writes(tmp_path):
    """The book renders and Colab opens exercises/student/ from git: it must never drift from the solutions."""
    written = generate(ROOT / "exercises" / "solutions", tmp_path)
    committed = sorted((ROOT / "exercises" / "student").glob("*.ipynb"))
    assert [path.name for path in committed] == [path.name for path in written]
    for path in written:
        assert path.read_bytes() == (ROOT / "exercises" / "student" / path.name).read_bytes(), (
            f"exercises/student/{path.name} differs from its solution notebook's student version: "
            "run `xlm-course student` and commit the result")


def test_a_student_notebook_says_what_it_is_and_cannot_be_stripped_twice():
    solution = nbformat.read(SOLUTIONS[0], as_version=4)
    student = student_version(solution, SOLUTIONS[0].name)
    assert student.cells[0].source == solution.cells[0].source  # the title stays first
    assert student.cells[1].id == NOTE_ID and "Your copy of the exercises" in student.cells[1].source
    student.cells.append(nbformat.v4.new_code_cell(f"{CODE_BEGIN}\nx = 1\n{CODE_END}"))
    with pytest.raises(ValueError, match="already has a cell with id"):
        student_version(student, "again.ipynb")


def test_generate_refuses_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no solution notebooks"):
        generate(tmp_path, tmp_path / "out")


def test_the_command_line(capsys):
    assert main(["data", "--languages", "en", "sw"]) == 0
    shown = capsys.readouterr()
    assert "ui messages" in shown.out and "BSD-3-Clause" in shown.out and "sw" in shown.out
    assert "emoji names" in shown.err  # the emoji names have no Swahili: said, not hidden
    args = parser().parse_args(["pretrain", "--objectives", "mlm", "cross", "--steps", "10"])
    assert args.objectives == ["mlm", "cross"] and args.steps == 10
    # the names a run accepts are checked by the code that owns them, whose error lists them
    with pytest.raises(ValueError, match=r"objectives must include 'mlm' and be taken from \('mlm', 'tlm', 'cross'\)"):
        main(["pretrain", "--objectives", "clm"])
    with pytest.raises(ValueError, match="pair_sources is a non-empty tuple taken from"):
        main(["pretrain", "--pair-sources", "wiki"])
    with pytest.raises(ValueError, match="Valid profiles: ci, colab, hub"):
        main(["pretrain", "--profile", "large"])
    with pytest.raises(SystemExit):
        parser().parse_args([])


def test_info_nce_feedback_names_the_mistake():
    _fails(ex.check_info_nce, lambda a, b, t: info_nce(a, b, t, symmetric=True), "one direction only")


def test_training_loop_checks():
    from xlm_course.training import TrainingConfig, linear_warmup_decay

    ex.check_warmup_decay(lambda s, w, t: linear_warmup_decay(TrainingConfig(steps=t, warmup_steps=w))(s))
    _fails(ex.check_warmup_decay, lambda s, w, t: s / w if s < w else (t - s) / (t - w), "step 0")

    ex.check_clip_gradients(clip)
    _fails(ex.check_clip_gradients, lambda gs, m: [g * min(1.0, m / float(g.norm())) for g in gs], "all* gradients")

    ex.check_masked_accuracy(accuracy)
    _fails(ex.check_masked_accuracy, lambda logits, labels: float((logits.argmax(-1) == labels).float().mean()),
           "only the positions")


def test_application_checks():
    ex.check_align_labels(align)
    _fails(ex.check_align_labels, lambda ids, labels: [-100 if w is None else labels[w] for w in ids], "first")
    ex.check_mean_reciprocal_rank(lambda scores, relevant: float(np.mean(
        [1 / (1 + int((row > row[r]).sum())) for row, r in zip(scores, relevant, strict=True)])))
    _fails(ex.check_mean_reciprocal_rank, lambda scores, relevant: float(np.mean(
        [float(row.argmax() == r) for row, r in zip(scores, relevant, strict=True)])), "rank = 1 +")
    from sklearn.metrics import f1_score

    ex.check_macro_f1(lambda t, p, n: float(f1_score(t, p, labels=list(range(n)), average="macro", zero_division=0)))
    _fails(ex.check_macro_f1, lambda t, p, n: float(np.mean(np.array(t) == np.array(p))), "that is accuracy")


def test_deployment_checks():
    from xlm_course.deployment.adapters import LoRALinear

    ex.check_lora_linear(lambda base, rank, alpha: LoRALinear(base, rank, alpha))

    class Unscaled(LoRALinear):
        def forward(self, x):
            return self.base(x) + self.lora_B(self.lora_A(x))

    _fails(ex.check_lora_linear, lambda base, rank, alpha: Unscaled(base, rank, alpha), "alpha / rank")
    ex.check_lora_parameter_count(lambda d_in, d_out, r: r * (d_in + d_out))
    _fails(ex.check_lora_parameter_count, lambda d_in, d_out, r: d_in * d_out, "rank × d_in")

    ex.check_int8_quantisation(quantise)
    _fails(ex.check_int8_quantisation, lambda x: ((x / (float(x.abs().max()) / 127)).to(torch.int8),
                                                  float(x.abs().max()) / 127), "round")
    _fails(ex.check_int8_quantisation, lambda x: (torch.round(x / 0.1).clamp(-127, 127).to(torch.int8), 0.1),
           "max|x| / 127")


def test_the_feedback_shown_on_the_instructors_page_is_real():
    message = _fails(ex.check_sampling_probabilities,
                     lambda counts, alpha: np.array(counts, dtype=float) ** alpha / sum(counts))
    assert message in (ROOT / "book" / "instructors.md").read_text()


# ---------------------------------------------------------------- checks that passed wrong answers or failed right ones


def test_a_right_answer_written_another_way_passes():
    """Tensors, numpy scalars and other formulas that are the same maths: a check must not blame the maths."""
    ex.check_effective_languages(lambda q: torch.exp(torch.special.entr(torch.tensor(q, dtype=torch.float64)).sum()))
    ex.check_effective_languages(lambda q: np.float64(1 / np.prod([p ** p for p in q])))  # e^{−Σ p ln p} = 1/Π p^p
    ex.check_fertility(lambda tokenize, sentences: torch.tensor(
        sum(map(len, map(tokenize, sentences))) / len(" ".join(sentences).split())))
    from sklearn.metrics import f1_score

    ex.check_macro_f1(lambda t, p, n: torch.tensor(f1_score(t, p, labels=list(range(n)), average="macro",
                                                           zero_division=0)))
    ex.check_masked_accuracy(lambda logits, labels: (logits.argmax(-1) == labels).sum() / (labels != -100).sum())
    ex.check_warmup_decay(lambda s, w, t: torch.tensor(min((s + 1) / w, (t - s) / max(t - w, 1))))

    def mask_by_hand(ids, mask_id, special, vocab, generator):  # BERT's recipe, drawn in another order
        ordinary = torch.tensor([i for i in range(vocab) if i not in set(special)])
        chosen = (torch.rand(ids.shape, generator=generator) < 0.15) & ~torch.isin(ids, torch.tensor(special))
        action = torch.rand(ids.shape, generator=generator)
        replacement = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
        masked = torch.where(chosen & (action < 0.8), mask_id, ids)
        masked = torch.where(chosen & (action >= 0.8) & (action < 0.9), replacement, masked)
        return masked, torch.where(chosen, ids, -100)

    ex.check_mask_tokens(mask_by_hand)

    class LoRAWithParameters(torch.nn.Module):  # the same layer, its own code
        def __init__(self, base, rank, alpha):
            super().__init__()
            self.base, self.scale = base.requires_grad_(False), alpha / rank
            self.lora_A = torch.nn.Linear(base.in_features, rank, bias=False)
            self.lora_B = torch.nn.Linear(rank, base.out_features, bias=False)
            torch.nn.init.zeros_(self.lora_B.weight)

        def forward(self, x):
            return self.base(x) + self.scale * self.lora_B(self.lora_A(x))

    ex.check_lora_linear(LoRAWithParameters)


def test_the_checks_that_were_vacuous_now_catch_the_wrong_answer():
    from xlm_course.deployment.adapters import LoRALinear

    class ZeroA(LoRALinear):
        def __init__(self, base, rank, alpha):
            super().__init__(base, rank, alpha)
            torch.nn.init.zeros_(self.lora_A.weight)

    _fails(ex.check_lora_linear, ZeroA, "lora_A starts at zero")

    class AllFrozen(LoRALinear):
        def __init__(self, base, rank, alpha):
            super().__init__(base, rank, alpha)
            self.requires_grad_(False)

    _fails(ex.check_lora_linear, AllFrozen, "must be trainable")

    class Detached(LoRALinear):
        def forward(self, x):
            with torch.no_grad():
                update = self.lora_B(self.lora_A(x))
            return self.base(x) + self.scaling * update if hasattr(self, "scaling") else self.base(x) + update

    _fails(ex.check_lora_linear, Detached, "without a gradient")

    def any_id(ids, mask_id, special, vocab, generator):  # replacements from the whole vocabulary, specials too
        masked, labels = mask_tokens(ids, mask_id, special, vocab, generator=generator)
        replaced = (labels != -100) & (masked != mask_id) & (masked != ids)
        return torch.where(replaced, torch.randint(vocab, ids.shape, generator=generator), masked), labels

    _fails(ex.check_mask_tokens, any_id, "special token")

    def global_state(ids, mask_id, special, vocab, generator):  # ignores the generator it is given
        return mask_tokens(ids, mask_id, special, vocab)

    _fails(ex.check_mask_tokens, global_state, "generator")

    def mean_of_rows(logits, labels):
        keep = labels != -100
        return float(np.mean([(row.argmax(-1)[k] == lab[k]).float().mean().item()
                              for row, lab, k in zip(logits, labels, keep, strict=True)]))

    _fails(ex.check_masked_accuracy, mean_of_rows, "mean of each row's accuracy")


def test_the_warm_up_check_asks_only_real_steps():
    asked = []

    def recording(step, warmup, total):
        asked.append((step, total))
        return min((step + 1) / warmup, (total - step) / max(total - warmup, 1))

    ex.check_warmup_decay(recording)
    assert all(step < total for step, total in asked)


def test_the_pruning_hint_for_french_fires_on_its_mistake():
    def against_previous(accuracy, points):
        drops = -accuracy.diff()
        return {lang: next((float(level) for level, drop in drops[lang].items() if drop >= points / 100 - 1e-12), None)
                for lang in accuracy}

    _fails(ex.check_pruning_experiment, against_previous, "not with the level before it")


# ---------------------------------------------------------------- exercises that do not give the answer away


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_a_student_notebook_shows_no_outcome_before_it_is_measured(path):
    """Hidden tests (the asserts that state an outcome) are left out, every written answer is asked for by a
    question and followed by the model answer collapsed, the Summary is collapsed, and the note is for learners."""
    solution = nbformat.read(path, as_version=4)
    student = student_version(solution, path.name)
    text = "\n".join(cell.source for cell in student.cells)
    assert HIDDEN_BEGIN not in text and CODE_BEGIN not in text and "BEGIN SOLUTION" not in text
    assert "Do not edit this file" not in text and "**Running it.**" in student.cells[0].source
    hidden = sum(cell.source.count(HIDDEN_BEGIN) for cell in solution.cells)
    asserts = sum(line.lstrip().startswith("assert ") for cell in student.cells if cell.cell_type == "code"
                  for line in cell.source.splitlines())
    assert hidden and asserts < sum(line.lstrip().startswith("assert ") for cell in solution.cells
                                    if cell.cell_type == "code" for line in cell.source.splitlines())
    ids = [cell.get("id") for cell in student.cells]
    for index, cell in enumerate(student.cells):
        if TEXT_STUB in cell.source:
            asked = cell.source.split(TEXT_STUB)[0].strip()
            assert asked, f"{path.name}, {cell.get('id')}: a prompt with no question"
            follower = student.cells[index + 1]
            assert follower.get("id") == f"{cell.get('id')}-model-answer" and ANSWER_SUMMARY in follower.source
            assert follower.source.startswith("<details>") and follower.source.endswith("</details>")
    summaries = [cell for cell in student.cells if "<summary>Summary" in cell.source]
    assert len(summaries) == 1 and summaries[0].source.startswith("<details>")
    assert len(ids) == len(set(ids))


def test_hidden_tests_are_left_out_and_their_markers_checked():
    source = "x = 1\n### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS\nprint(x)"
    assert strip_hidden(source) == "x = 1\nprint(x)"
    with pytest.raises(ValueError, match="never closed"):
        strip_hidden(f"{HIDDEN_BEGIN}\nassert True")
    with pytest.raises(ValueError, match="without"):
        strip_hidden(f"assert True\n{HIDDEN_END}")


def test_a_cell_of_hidden_tests_only_is_left_out_of_the_student_version():
    solution = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Exercises\n\n**Learning goals.** x"),
        nbformat.v4.new_code_cell(f"def f():\n    {CODE_BEGIN}\n    return 1\n    {CODE_END}", id="task"),
        nbformat.v4.new_code_cell(f"{HIDDEN_BEGIN}\nassert f() == 1\n{HIDDEN_END}", id="hidden"),
        nbformat.v4.new_code_cell("", id="empty")])
    ids = [cell.get("id") for cell in student_version(solution).cells]
    assert "hidden" not in ids and {"task", "empty"} <= set(ids)  # an empty cell of the solution stays
