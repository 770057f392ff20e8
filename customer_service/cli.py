"""``troika cs ...``: train and evaluate the support bot's intent model and out-of-scope detector.

    troika cs train --intents TRAIN --validation VAL [--oos-train F] [--oos-validation F] [--mode full|fast] --out DIR [--strict]
    troika cs train --intents TRAIN --validation VAL [--oos-train F] [--oos-validation F] --teacher mpnet --out DIR
    troika cs evaluate --model DIR --data TEST [--oos F] [--strict]
    troika cs chat [--model DIR --responses F] [--knowledge F ...]   # a terminal conversation (demo bank by default)
    troika cs retrain [--config troika.toml] [--tolerance 0.0]       # learn from feedback; promote if not worse
    troika cs tune-retrieval --knowledge F [F ...] [--questions F] --out DIR   # fine-tune the knowledge base's encoder

Intent files are CSV/JSONL ``text,intent`` (BANKING77's ``text,category`` as it is), the CLINC150
JSON layout or Rasa ``nlu.yml``; rows whose intent is ``oos`` / ``out_of_scope`` are out-of-scope
examples. ``--oos*`` files are CSV/JSONL with a ``text`` column (an intent column is ignored).
A bad row in any file a command reads (an empty text or intent, a short row, a broken JSON line,
a bad template) is skipped and listed on stderr with its line and reason, and the one-line summary
ends with the count; ``--strict`` stops at the first instead.
Errors are TroikaError, printed by ``shared.cli.main`` as one line with exit status 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from shared.cli import add_serve_option, add_set_option, add_strict_option, add_teacher_options, distillation_plan, made_phrase
from shared.datafiles import FileReports, print_skipped_rows
from shared.encoder import BASE_MODEL_HELP
from shared.errors import DataError

EXAMPLES = """examples:
  troika cs train --mode fast --out var/models/intents \\
      --intents ../shared/data/banking77/train.csv --validation ../shared/data/banking77/validation.csv
  troika cs evaluate --model var/models/intents --data ../shared/data/banking77/validation.csv
"""


def _examples(path: Path, split: str, skipped: FileReports):
    """(texts, intents) of a file; a CLINC150 JSON file gives its ``split`` (train or validation)."""
    from .intent_files import IntentSplits, load_intents

    loaded = load_intents(path, skipped.new(path))
    if isinstance(loaded, IntentSplits):
        loaded = getattr(loaded, split)
    if not loaded.texts:
        raise DataError(f"{path}: no examples")
    return list(loaded.texts), list(loaded.intents)


def _with_oos(texts: list[str], intents: list[str], oos_file: Path | None, skipped: FileReports) -> tuple[list[str], list[str]]:
    from .intent_files import OUT_OF_SCOPE, normalise_label, read_oos_texts

    extra = read_oos_texts(oos_file, report=skipped.new(oos_file)) if oos_file else []
    return texts + extra, [normalise_label(i) for i in intents] + [OUT_OF_SCOPE] * len(extra)


def cmd_train(args) -> str:
    from shared.distillation import summary as distillation_summary
    from shared.finetune_config import config_from_cli

    from .oos import OutOfScopeDetector
    from .policy import choose_thresholds

    # Read every file first: a bad one fails in a second, not after training.
    skipped = FileReports(strict=args.strict)
    train = _with_oos(*_examples(args.intents, "train", skipped), args.oos_train, skipped)
    val_texts, val_intents = _with_oos(*_examples(args.validation, "validation", skipped), args.oos_validation, skipped)
    config = config_from_cli(args.mode, args.set, epochs=args.epochs, seed=args.seed, soup=args.soup)
    plan = distillation_plan(args, skipped.reports, args.strict)
    start = time.perf_counter()
    detector = OutOfScopeDetector(args.method, config=config, base_model=args.base_model, min_oos_recall=args.min_oos_recall,
                                  serve=args.serve).fit(
        *train, validation=(val_texts, val_intents), progress=not args.quiet, distillation=plan)
    probs, labels, oos_scores = detector.assess(val_texts)
    thresholds = choose_thresholds(probs, labels, val_intents, oos_scores, oos_threshold=detector.threshold_)
    out = detector.save(args.out, extra={"policy": thresholds.__dict__})
    rates = detector.validation_[detector.method_]
    return (f"{made_phrase(detector.classifier_.metrics, args.mode, 'intent')} on {len(train[0])} examples ({len(detector.intents_)} intents), "
            f"out-of-scope method {detector.method_}; validation in-scope accuracy {rates['in_scope_accuracy']:.4f}, "
            f"out-of-scope recall {rates['oos_recall']:.4f}, in {time.perf_counter() - start:.0f}s"
            + distillation_summary(detector.classifier_.metrics) + f" → {out}" + print_skipped_rows(skipped.reports))


def evaluate(detector, texts: list[str], intents: list[str], *, oos_action: str = "reply") -> dict:
    """The figures ``troika cs evaluate`` prints, for any loaded detector and labelled rows.

    ``oos_action`` is the server's setting: what a message the bot cannot answer gets, so its share
    is reported under that path (``out_of_scope``: a reply offering a person; ``handed_off``)."""
    import numpy as np
    from sklearn.metrics import f1_score

    from .intent_files import OUT_OF_SCOPE
    from .oos import outcome_rates
    from .policy import PolicyThresholds, policy_value

    unknown = sorted(set(intents) - set(detector.intents_) - {OUT_OF_SCOPE})
    if unknown:
        raise DataError(f"intents the model was not trained on: {', '.join(unknown[:5])}")
    probs, labels, oos_scores = detector.assess(texts)
    true = np.array(intents)
    closed = np.array(labels)[probs.argmax(axis=1)]
    flagged = oos_scores >= detector.threshold_
    predicted = np.where(flagged, OUT_OF_SCOPE, closed)
    is_oos = true == OUT_OF_SCOPE
    in_scope = ~is_oos
    rates = outcome_rates(oos_scores, is_oos, closed == true, detector.threshold_)
    policy = PolicyThresholds(**getattr(detector, "extra_", {}).get("policy", {"oos": detector.threshold_}))
    shares = policy_value(probs, labels, intents, oos_scores, policy)
    return {
        "n": len(texts), "n_in_scope": int(in_scope.sum()), "n_oos": int(is_oos.sum()),
        "accuracy": float((closed == true)[in_scope].mean()) if in_scope.any() else None,
        "in_scope_accuracy": rates["in_scope_accuracy"] if in_scope.any() else None,
        # None, not 0, where the rate has no denominator (no out-of-scope rows, nothing flagged).
        "oos_recall": rates["oos_recall"] if is_oos.any() else None,
        "oos_precision": rates["oos_precision"] if flagged.any() else None,
        "macro_f1": float(f1_score(true, predicted, average="macro", zero_division=0)),
        # A model directory holds no knowledge base, so nothing is retrieved: every fallback takes the oos_action path.
        "answered": shares["answered"], "clarified": shares["clarified"], "retrieved": 0.0,
        "out_of_scope": shares["fallback"] if oos_action == "reply" else 0.0,
        "handed_off": shares["fallback"] if oos_action == "handoff" else 0.0, "oos_action": oos_action,
        "oos_method": detector.method_, "oos_threshold": float(detector.threshold_), "policy": policy.__dict__,
    }


def cmd_evaluate(args) -> None:
    from .oos import OutOfScopeDetector

    skipped = FileReports(strict=args.strict)
    # Read first: a bad file fails before a model loads.
    texts, intents = _with_oos(*_examples(args.data, "validation", skipped), args.oos, skipped)
    from .oos import ONNX_DIR

    if args.runtime == "onnx" and not (args.model / ONNX_DIR).is_dir():
        raise DataError(f"{args.model} holds no ONNX encoder (saved by an older troika): train it again, or use --runtime torch")
    report = evaluate(OutOfScopeDetector.load(args.model, onnx=args.runtime == "onnx"), texts, intents, oos_action=args.oos_action)
    report["runtime"] = args.runtime
    print(json.dumps(report, indent=1))
    summary = f"{report['n']} messages: accuracy {report['accuracy']:.4f}, in-scope accuracy {report['in_scope_accuracy']:.4f}"
    if report["oos_recall"] is not None:
        summary += f", out-of-scope recall {report['oos_recall']:.4f}"
    print(summary + print_skipped_rows(skipped.reports), file=sys.stderr)


def cmd_chat(args) -> str:
    import datetime as dt

    from .conversations import Turn
    from .plugin import DEMO_FILES, build_bot

    if args.model and not args.responses:
        raise DataError("--model needs --responses (the answers per intent, YAML or JSON)")
    paths = {"model": args.model, "responses": args.responses, "knowledge": args.knowledge or []} if args.model else DEMO_FILES
    skipped = FileReports(strict=args.strict)
    bot = build_bot(paths, progress=not args.quiet, skipped=skipped)
    if skipped.reports:
        print("read the bot's files" + print_skipped_rows(skipped.reports), file=sys.stderr)
    print("Type a message; an empty line or Ctrl-D ends the conversation.", file=sys.stderr)
    history: list = []
    for line in sys.stdin:
        text = line.strip()
        if not text:
            break
        reply = bot.respond(text, history)
        print(f"bot [{reply.path}{': ' + reply.intent if reply.intent else ''}]: {reply.text}")
        for choice in reply.details.get("choices", []):
            print(f"  choice: {choice}")
        for source in reply.details.get("sources", []):
            print(f"  source: {source['title']}" + (f" <{source['url']}>" if source.get("url") else ""))
        now = dt.datetime.now(dt.UTC)
        history += [Turn(len(history), "terminal", "user", text, now),
                    Turn(len(history) + 1, "terminal", "bot", reply.text, now, reply.path, reply.intent, reply.confidence, reply.details)]
    return f"{len(history) // 2} message(s) answered"


def cmd_retrain(args) -> None:
    from shared.config import load_config
    from shared.storage import engine_for

    from .conversations import Conversations
    from .plugin import model_store
    from .retraining import retrain

    config = load_config(args.config)
    result = retrain(model_store(config), Conversations(engine_for(config.database_url)), tolerance=args.tolerance,
                     progress=not args.quiet)
    print(json.dumps({"promoted": result.promoted, "version": None if result.version is None else str(result.version), "old": result.old_metrics,
                      "new": result.new_metrics, "new_intents": result.new_labels, "reason": result.reason}, indent=1))
    print(result.summary() + (f"; new intents: {', '.join(result.new_labels)}" if result.new_labels else ""), file=sys.stderr)


def retrieval_pairs(passages, questions: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """(query, passage text) pairs: each FAQ question with its answer, and each extra phrasing
    (``questions``: (text, passage id)) with the whole passage as the index embeds it; questions
    no passage answers are left out."""
    by_id = {p.id: p for p in passages}
    questions = [(text, pid) for text, pid in questions if pid is not None]
    unknown = sorted({pid for _, pid in questions if pid not in by_id})
    if unknown:
        raise DataError(f"questions name passages that are not in the knowledge base: {', '.join(unknown[:5])}")
    return ([(p.title, p.text) for p in passages if p.title]
            + [(text, by_id[pid].search_text) for text, pid in questions])


def cmd_tune_retrieval(args) -> str:
    import random

    from shared.biencoder import BiEncoderConfig, fine_tune_biencoder

    from .knowledge_files import read_knowledge, read_questions

    skipped = FileReports(strict=args.strict)
    passages = read_knowledge(args.knowledge, skipped.reports, args.strict)
    questions = read_questions(args.questions, skipped.new(args.questions)) if args.questions else []
    pairs = retrieval_pairs(passages, questions)
    if len(pairs) < 4:
        raise DataError(f"only {len(pairs)} question/passage pairs: fine-tuning needs at least 4 (FAQ rows or --questions)")
    random.Random(args.seed).shuffle(pairs)
    held = max(1, round(args.eval_share * len(pairs))) if args.eval_share > 0 else 0
    config = BiEncoderConfig(epochs=args.epochs, seed=args.seed)
    out = fine_tune_biencoder(pairs[held:], args.out, base_model=args.base_model, config=config,
                              eval_pairs=pairs[:held] or None, progress=not args.quiet)
    metrics = json.loads((out / "manifest.json").read_text()).get("metrics", {})
    summary = f"tuned the retrieval encoder on {len(pairs) - held} question/passage pairs → {out}"
    if "eval_after" in metrics:
        before, after = metrics["eval_before"], metrics["eval_after"]
        summary += (f"; {held} held-out pairs: recall@1 {before['recall@1']:.3f} → {after['recall@1']:.3f}, "
                    f"recall@5 {before['recall@5']:.3f} → {after['recall@5']:.3f}")
    return summary + print_skipped_rows(skipped.reports) + '. Serve it with [customer_service] retrieval_model = "' + str(out) + '"'


def register(subparsers) -> None:
    import argparse

    from .oos import DEFAULT_MIN_OOS_RECALL
    from .oos_scorers import METHODS

    cs = subparsers.add_parser("cs", help="support bot: intent model and out-of-scope detection", epilog=EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = cs.add_subparsers(dest="cs_command", metavar="VERB", required=True)

    p = verbs.add_parser("train", help="train the intent classifier and out-of-scope detector",
                         description="Train on --intents, choose the out-of-scope threshold and the answer/clarify thresholds on "
                         "--validation (with its out-of-scope rows and --oos-validation), and save everything to --out.")
    p.add_argument("--intents", type=Path, required=True, metavar="TRAIN", help="training intents (CSV/JSONL text,intent; CLINC150 JSON; Rasa nlu.yml)")
    p.add_argument("--validation", type=Path, required=True, metavar="VAL", help="validation intents, same formats")
    p.add_argument("--oos-train", type=Path, metavar="F", help="out-of-scope training sentences (CSV/JSONL with a text column)")
    p.add_argument("--oos-validation", type=Path, metavar="F", help="out-of-scope validation sentences")
    p.add_argument("--mode", choices=["full", "fast"], default="full",
                   help="full: fine-tune every weight (best quality); fast: frozen encoder + linear head (seconds)")
    p.add_argument("--method", choices=["auto", *METHODS], default="auto",
                   help="out-of-scope method (auto: combined when out-of-scope examples are given, else knn)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="model directory to write")
    p.add_argument("--min-oos-recall", type=float, default=DEFAULT_MIN_OOS_RECALL, metavar="R",
                   help=f"share of the out-of-scope validation messages the threshold must catch; in-scope accuracy is "
                   f"maximised under it (default {DEFAULT_MIN_OOS_RECALL})")
    add_serve_option(p, "the out-of-scope thresholds are chosen on its vectors")
    p.add_argument("--epochs", type=float, help="maximum epochs in full mode (early stopping may end sooner)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--soup", type=int, help="full mode: fine-tune N times (seeds seed..seed+N-1) and average the weights; "
                   "N times the training time, one model to serve")
    add_set_option(p)
    p.add_argument("--base-model", help=BASE_MODEL_HELP)
    add_teacher_options(p)
    add_strict_option(p)
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("evaluate", help="JSON metrics of a trained model on labelled messages",
                         description="accuracy (closed set), in_scope_accuracy (an in-scope message flagged out of scope counts as "
                         "wrong), oos_recall, oos_precision, macro_f1 and the share of answered / clarified / retrieved / handed-off messages.")
    p.add_argument("--model", type=Path, required=True, metavar="DIR", help="directory written by troika cs train")
    p.add_argument("--data", type=Path, required=True, metavar="TEST", help="labelled messages (CSV/JSONL text,intent; CLINC150 JSON: its validation split)")
    p.add_argument("--oos", type=Path, metavar="F", help="more out-of-scope messages (CSV/JSONL with a text column)")
    p.add_argument("--oos-action", choices=["reply", "handoff"], default="reply",
                   help="the server's [customer_service] oos_action: which path an unanswerable message's share is reported under")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="torch: the model as trained (default); onnx: the int8 encoder the server answers with")
    add_strict_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("chat", help="talk to the bot in the terminal (the demo bank unless --model is given)",
                         description="Each line you type is answered as the chat API would, with the path that produced it.")
    p.add_argument("--model", type=Path, metavar="DIR", help="directory written by troika cs train")
    p.add_argument("--responses", type=Path, metavar="F", help="answers per intent (YAML or JSON); needed with --model")
    p.add_argument("--knowledge", type=Path, nargs="+", metavar="F", help="knowledge base: FAQ CSV/JSONL and Markdown files or folders")
    add_strict_option(p)
    p.set_defaults(func=cmd_chat)

    p = verbs.add_parser("retrain", help="learn from feedback and promote the new model if it is not worse",
                         description="Admins' corrections and answers visitors called helpful are learned by the served model "
                         "(warm start, new intents allowed). The candidate is compared with the served model on its validation "
                         "set plus one new example in four, and becomes active only if it is not worse; a running server "
                         "switches to it within seconds. The model store is var_dir/customer_service/models of the configuration.")
    p.add_argument("--config", type=Path, help="troika.toml to read (default: ./troika.toml if present)")
    p.add_argument("--tolerance", type=float, default=0.0, help="promote even when held-out accuracy drops by at most this much")
    p.set_defaults(func=cmd_retrain)

    p = verbs.add_parser("tune-retrieval", help="fine-tune the knowledge base's encoder on its question/answer pairs",
                         description="Each FAQ question is paired with its answer, and each --questions row (a visitor's "
                         "phrasing and the passage that answers it) with that passage; the encoder learns to rank the right "
                         "passage first against the others in its batch (shared.biencoder). A share of the pairs is held out "
                         "and recall@1/@5 before and after is printed.")
    p.add_argument("--knowledge", type=Path, nargs="+", required=True, metavar="F", help="FAQ CSV/JSONL and Markdown files or folders")
    p.add_argument("--questions", type=Path, metavar="F", help="visitors' phrasings: CSV/JSONL text,passage_id (rows with an empty passage_id are skipped)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory for the tuned encoder")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--eval-share", type=float, default=0.2, help="share of pairs held out to measure recall (0: none)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--base-model", help=BASE_MODEL_HELP)
    add_strict_option(p)
    p.set_defaults(func=cmd_tune_retrieval)
