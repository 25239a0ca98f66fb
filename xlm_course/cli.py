"""The course's command line: ``xlm-course student | grade | data | pretrain | hub-stand-ins | claims``.

* ``xlm-course student`` writes the student exercise notebooks from the solution notebooks
  (:mod:`xlm_course.exercises.student`);
* ``xlm-course grade FOLDER`` runs every student's submitted notebooks and writes a score table per student and
  task with each check's feedback (:mod:`xlm_course.exercises.grading`);
* ``xlm-course data`` lists every data source with its licence and its size per language;
* ``xlm-course pretrain`` runs (or loads from the cache) chapter 3's joint pretraining under a profile;
* ``xlm-course hub-stand-ins DIR`` makes a Hugging Face cache in which the ``hub`` profile's names load offline:
  ``xlm-roberta-base`` is the course's applications encoder (a tiny XLM-R written by ``save_pretrained``) and
  ``intfloat/multilingual-e5-small`` the rebuilt e5-small (``make hub-notebooks`` runs notebooks on it);
* ``xlm-course claims`` prints every claim the notebooks recorded (:mod:`xlm_course.claims`), thinnest margin
  first (``make claims``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _student(args: argparse.Namespace) -> int:
    from .exercises.student import generate

    for path in generate(args.solutions, args.output):
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .exercises.grading import grade_folder, write_reports
    from .exercises.sandbox import Limits

    output = Path(args.output or args.folder)
    limits = Limits(memory_gib=args.memory_gib) if args.memory_gib is not None else Limits()
    grading = grade_folder(args.folder, args.reference, args.time_limit, args.notebooks,
                           isolate=not args.unsafe_no_sandbox, limits=limits,
                           executed=output / "executed", warm_cache=args.warm_cache, jobs=args.jobs,
                           students=args.students, seed=args.hidden_seed)
    table, report = write_reports(grading.results, output, grading.notes, grading.seed)
    print(report.read_text(encoding="utf-8").split("\n## Feedback")[0])
    print(f"wrote {table} and {report}")
    return 0


def _data(args: argparse.Namespace) -> int:
    import pandas as pd

    from .data import load_dialogues, load_emoji_names, load_udhr, load_ui_messages, provenance

    languages = args.languages
    loaders = {"ui messages": load_ui_messages, "emoji names": load_emoji_names, "dialogues": load_dialogues,
               "udhr": load_udhr}
    rows, counts = [], {}
    for name, loader in loaders.items():
        try:
            dataset = loader(list(languages)) if languages else loader()
        except ValueError as error:  # a language this source lacks: say so and go on
            print(f"{name}: {error}", file=sys.stderr)
            continue
        info = provenance(dataset)
        rows.append({"source": name, "items": len(dataset), "licence": info["licence"][:70]})
        counts[name] = pd.Series(dataset["lang"]).value_counts()
    print(pd.DataFrame(rows).to_string(index=False))
    print()
    print(pd.DataFrame(counts).fillna(0).astype(int).to_string())
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    import os

    from .pretraining import PretrainingSetup, pretrain
    from .runtime import PROFILE_VARIABLE, get_profile, setup

    if args.profile:
        get_profile(args.profile)  # an unknown name is an error that lists the profiles
        os.environ[PROFILE_VARIABLE] = args.profile
    setup(seed=args.seed)
    setup_kwargs = {"seed": args.seed}
    if args.objectives:
        setup_kwargs["objectives"] = tuple(args.objectives)
    if args.pair_sources:
        setup_kwargs["pair_sources"] = tuple(args.pair_sources)
    if args.steps:
        setup_kwargs["steps"] = args.steps
    pretrained = pretrain(PretrainingSetup(**setup_kwargs), use_cache=not args.no_cache, progress=True)
    table = pretrained.task.retrieval(pretrained.model, "test")
    print(table.round(3).to_string())
    print(f"mean held-out retrieval accuracy: {table['mean'].mean():.3f}; cached in {pretrained.folder}")
    return 0


def _hub_stand_ins(args: argparse.Namespace) -> int:
    from .models.e5 import HUB_NAME, e5_small_folder
    from .models.hub import seed_hub_cache
    from .pretraining import pretrain
    from .runtime import setup
    from .transfer import DOWNSTREAM_SETUP

    setup(seed=0, show=False)
    folders = {"xlm-roberta-base": pretrain(DOWNSTREAM_SETUP, progress=False).folder, HUB_NAME: e5_small_folder()}
    for name, folder in folders.items():
        print(f"{name} -> {seed_hub_cache(name, folder, args.cache_dir)} (from {folder})")
    print(f"set HF_HUB_CACHE={args.cache_dir} and HF_HUB_OFFLINE=1 to load these names offline")
    return 0


def _claims(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .claims import claims_table

    folders = [Path(folder) for folder in args.folder or ["_build/claims"]]
    notebooks = sorted(Path(args.root).glob("chapters/*/*.ipynb"))
    pages = sorted(Path(args.root).glob("chapters/*/*.md")) + sorted(Path(args.root).glob("book/*.md"))
    for folder in folders:
        if not folder.is_dir() or not any(folder.glob("*.json")):
            print(f"no claims recorded in {folder}: run `make notebooks` first (it sets XLM_COURSE_CLAIMS)",
                  file=sys.stderr)
            return 1
    table, missing = claims_table(folders, notebooks, pages)
    print(table)
    if missing:
        print(f"\n{len(missing)} claims stated in the notebooks were not recorded (did every notebook run?): "
              f"{', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="xlm-course", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write the student exercise notebooks (solutions removed)")
    student.add_argument("--solutions", default="exercises/solutions", help="folder of solution notebooks")
    student.add_argument("--output", default="exercises/student", help="folder for the student notebooks")
    student.set_defaults(run=_student)
    grade = commands.add_parser("grade", help="run submitted exercise notebooks and write a score table")
    grade.add_argument("folder", help="one folder per student, each with that student's exercise notebooks")
    grade.add_argument("--reference", default="exercises/student", help="the notebooks that define the tasks")
    grade.add_argument("--time-limit", type=float, default=300, help="seconds for each notebook (default 300)")
    grade.add_argument("--output", default=None, help="where grades.csv and grades.md go (default: FOLDER)")
    grade.add_argument("--notebooks", nargs="+", default=None,
                       help="grade only these, e.g. 04_math 06_applications (default: every one handed in)")
    grade.add_argument("--memory-gib", type=float, default=None,
                       help="memory per notebook's kernel, in GiB (default: xlm_course.exercises.sandbox.Limits)")
    grade.add_argument("-j", "--jobs", type=int, default=1, help="notebooks graded at once (default 1)")
    grade.add_argument("--students", nargs="+", default=None, help="grade only these students (folder names)")
    grade.add_argument("--hidden-seed", type=int, default=None,
                       help="the seed of the hidden cases (default: the one kept in OUTPUT/executed, else a new one)")
    grade.add_argument("--warm-cache", action="store_true",
                       help="pretrain the encoders the notebooks load if they are not cached (else: refuse)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run submissions with the grader's rights, where the sandbox is not available")
    grade.set_defaults(run=_grade)
    data = commands.add_parser("data", help="list the data sources, their licences and sizes per language")
    data.add_argument("--languages", nargs="*", help="BCP-47 tags, e.g. en zh-Hans sw (default: all)")
    data.set_defaults(run=_data)
    pre = commands.add_parser("pretrain", help="run chapter 3's joint pretraining (or load it from the cache)")
    # The names a run accepts live with the code that checks them (runtime.PROFILES, pretraining.OBJECTIVES and
    # PAIR_SOURCES); a wrong one gets that code's error, which lists them. Importing them here would load torch
    # and transformers for every command.
    pre.add_argument("--profile", default=None, help="a runtime profile such as ci (default: $XLM_COURSE_PROFILE)")
    pre.add_argument("--objectives", nargs="+", default=None, help="default: all, mlm tlm cross")
    pre.add_argument("--steps", type=int, default=None, help="default: the profile's")
    pre.add_argument("--pair-sources", nargs="+", default=None,
                     help="parallel text for TLM and the contrastive loss (default: ui); 'ui emoji' is the "
                     "applications' encoder")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--no-cache", action="store_true", help="train even if a cached run exists")
    pre.set_defaults(run=_pretrain)
    hub = commands.add_parser("hub-stand-ins", help="a Hugging Face cache where the hub profile's names load "
                              "offline: the course's encoder as xlm-roberta-base, the rebuilt e5-small as itself")
    hub.add_argument("cache_dir", help="the folder to use as HF_HUB_CACHE")
    hub.set_defaults(run=_hub_stand_ins)
    claims = commands.add_parser("claims", help="every claim the notebooks recorded, thinnest margin first")
    claims.add_argument("--folder", action="append", help="where `make notebooks` recorded them (default "
                        "_build/claims); repeat it for several runs (fp32 and bf16): each claim's thinnest margin")
    claims.add_argument("--root", default=".", help="the course's folder (its chapters/ are read for the keys)")
    claims.set_defaults(run=_claims)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
