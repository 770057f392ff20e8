"""How ``troika run`` hosts the support bot: its tables, its bot, its blueprint under /cs.

The bot is built in ``prepare`` from the files named in ``[customer_service]`` of troika.toml,
or from the demo bank in ``customer_service/demo`` when none are named::

    [customer_service]
    model = "var/models/intents"       # a directory from `troika cs train`; else the bot trains on `intents`
    intents = "data/intents.csv"       # text,intent (CSV/JSONL, CLINC150 JSON or Rasa nlu.yml)
    oos = "data/out_of_scope.csv"      # optional: messages the bot must not answer from an intent
    responses = "data/responses.yml"   # intent -> answer templates
    knowledge = ["data/faq.csv", "data/guide.md"]
    knowledge_questions = "data/kb_questions.csv"   # optional: text,passage_id; chooses the retrieval threshold
    handoff_webhook = "https://hooks.example/support"   # optional
    thresholds = { confidence = 0.6 }  # optional overrides of the thresholds chosen on validation
    rate_limit = "20/second;600/minute"
    handoff_intents = ["speak_to_human"]   # the default: these intents answer and hand off to a person
    oos_action = "reply"               # a message the bot cannot answer: "reply" offers a person, "handoff" hands off
    retrieval_model = "var/models/kb-encoder"   # optional: from `troika cs tune-retrieval`

One validation example in four per intent (and half of the out-of-scope examples) is held out
to choose the out-of-scope threshold, so a small file still gets thresholds fitted to it.
Training is fast mode (frozen encoder + linear head): seconds on a demo-sized file.

The model served is the active version of the store under ``var_dir/customer_service/models``:
made on first start from ``model`` or ``intents`` (again whenever those files change), replaced
by ``troika cs retrain`` when feedback makes a better one, and picked up by the running server
within ``reload_seconds`` (default 2) without a restart. Messages and knowledge-base passages are
encoded by onnxruntime int8 (``onnx = false`` serves with torch).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import customer_service
from shared.artifacts import ActiveWatcher, ArtifactStore
from shared.biencoder import load_biencoder
from shared.config import Config
from shared.continual import hold_out_per_label
from shared.datafiles import FileReports
from shared.embeddings import Embedder
from shared.encoder import resolve_encoder
from shared.errors import ConfigError
from shared.finetune_config import FineTuneConfig
from shared.server import Plugin
from shared.storage import engine_for, migrate

from .bot import OOS_ACTIONS, IntentBot, KnowledgeBase
from .conversations import Conversations
from .intent_files import OUT_OF_SCOPE, IntentExamples, load_intents, read_oos_texts
from .knowledge_files import read_knowledge, read_questions
from .oos import ONNX_THREADS, OutOfScopeDetector
from .policy import PolicyThresholds, choose_retrieval_threshold
from .response_files import read_responses
from .service import ChatService, HandoffNotifier
from .settings import DEFAULT_HANDOFF_INTENTS, check_keys
from .web import make_blueprint

log = logging.getLogger(__name__)

PACKAGE = Path(customer_service.__file__).parent
DEMO = PACKAGE / "demo"
DEMO_FILES = {"intents": DEMO / "intents.csv", "oos": DEMO / "oos.csv", "responses": DEMO / "responses.yml",
              "knowledge": [DEMO / "faq.csv", DEMO / "guide.md"], "knowledge_questions": DEMO / "kb_questions.csv"}


def hold_out(examples: IntentExamples) -> tuple[IntentExamples, IntentExamples]:
    """(train, validation) by ``shared.continual.hold_out_per_label``."""
    train, val = hold_out_per_label(list(zip(examples.texts, examples.intents)), lambda example: example[1])
    return (IntentExamples([t for t, _ in train], [i for _, i in train], source=examples.source),
            IntentExamples([t for t, _ in val], [i for _, i in val], source=examples.source))


def _paths(settings: dict, base: Path) -> dict:
    """The bot's files from settings (relative to ``base``), the demo's where settings name none."""
    if "intents" not in settings and "model" not in settings:
        return DEMO_FILES
    if "responses" not in settings:
        raise ConfigError("[customer_service] names a model or intents but no responses: add responses = \"answers.yml\"")
    resolve = lambda p: (base / p) if not Path(p).is_absolute() else Path(p)  # noqa: E731 - one rule for the six paths below
    knowledge = settings.get("knowledge", [])
    return {"model": resolve(settings["model"]) if settings.get("model") else None,
            "intents": resolve(settings["intents"]) if settings.get("intents") else None, "oos": resolve(settings["oos"]) if settings.get("oos") else None,
            "responses": resolve(settings["responses"]),
            "knowledge": [resolve(p) for p in ([knowledge] if isinstance(knowledge, str) else knowledge)],
            "knowledge_questions": resolve(settings["knowledge_questions"]) if settings.get("knowledge_questions") else None}


def build_bot(paths: dict, *, thresholds: dict | None = None, base_model: str | None = None, progress: bool = True,
              detector: OutOfScopeDetector | None = None, knowledge: KnowledgeBase | None = None,
              handoff_intents=DEFAULT_HANDOFF_INTENTS, oos_action: str = "reply", skipped: FileReports | None = None) -> IntentBot:
    """A ready bot: ``detector`` (else the model named in ``paths``, else one trained in fast mode on
    its intents), its answers, and ``knowledge`` (else the knowledge base in ``paths``, indexed
    with torch). A trained model brings the thresholds chosen when it was trained.

    The files' bad rows go into ``skipped`` (a CLI prints them); without it they are logged as
    warnings and the bot is built from the good rows."""
    with FileReports.or_logged(skipped, log) as skipped:
        if detector is None:
            detector = OutOfScopeDetector.load(paths["model"]) if paths.get("model") else _train_detector(paths, base_model, progress, skipped)
        responses = read_responses(paths["responses"], skipped.new(paths["responses"]))
        missing = responses.missing(detector.intents_)
        if missing:
            log.warning("no answer written for %d intent(s) (%s): those messages are handed off", len(missing), ", ".join(missing[:5]))
        if knowledge is None:
            knowledge = build_knowledge(paths, Embedder(base_model or None), skipped)
        if knowledge is not None:
            knowledge = knowledge.for_detector(detector)  # this model's examples, not the last one's
        chosen = dict(getattr(detector, "extra_", {}).get("policy", {}))
        if knowledge is not None and paths.get("knowledge_questions"):
            questions = read_questions(paths["knowledge_questions"], skipped.new(paths["knowledge_questions"]))
            chosen["retrieval"] = retrieval_threshold(knowledge, questions)
        thresholds = {**chosen, **(thresholds or {})}
        policy = PolicyThresholds(oos=detector.threshold_).override(thresholds or {})
        return IntentBot(detector, responses, knowledge, policy, handoff_intents=handoff_intents, oos_action=oos_action)


def retrieval_threshold(knowledge: KnowledgeBase, questions: list[tuple[str, str | None]]) -> float:
    """The retrieval threshold chosen on held-out visitor questions: a question answered by the
    passage it names earns, any other answer (or any answer to a question no passage answers) costs."""
    unknown = sorted({pid for _, pid in questions if pid is not None and pid not in knowledge.passages})
    if unknown:
        raise ConfigError(f"knowledge_questions name passages that are not in the knowledge base: {', '.join(unknown[:5])}")
    best = [knowledge.search(text, k=1)[0] for text, _ in questions]
    return choose_retrieval_threshold([h.score for h in best], [h.id == pid for h, (_, pid) in zip(best, questions)])


def build_knowledge(paths: dict, embedder, skipped: FileReports | None = None) -> KnowledgeBase | None:
    """The knowledge base of ``paths``; bad FAQ rows go into ``skipped``, else they are logged."""
    with FileReports.or_logged(skipped, log) as skipped:
        passages = read_knowledge(paths["knowledge"], skipped.reports, skipped.strict) if paths.get("knowledge") else []
    return KnowledgeBase.build(passages, embedder) if passages else None


def _train_detector(paths: dict, base_model: str | None, progress: bool, skipped: FileReports | None = None) -> OutOfScopeDetector:
    with FileReports.or_logged(skipped, log) as skipped:
        examples = load_intents(paths["intents"], skipped.new(paths["intents"]))
        oos = read_oos_texts(paths["oos"], report=skipped.new(paths["oos"])) if paths.get("oos") else []
    train, val = hold_out(examples) if isinstance(examples, IntentExamples) else (examples.train, examples.validation)
    oos_train, oos_val = oos[0::2], oos[1::2]
    return OutOfScopeDetector(config=FineTuneConfig(mode="fast"), base_model=base_model or None).fit(
        train.texts, train.intents, oos_train,
        validation=(val.texts + oos_val, val.intents + [OUT_OF_SCOPE] * len(oos_val)), progress=progress)


def _handoff_intents(settings: dict) -> tuple[str, ...]:
    value = settings.get("handoff_intents", DEFAULT_HANDOFF_INTENTS)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[customer_service] handoff_intents must be a list of intent names, got {value!r}")
    return tuple(value)


def model_store(config: Config) -> ArtifactStore:
    """Where the served bot model's versions live (``troika cs retrain`` adds to it)."""
    return ArtifactStore(Path(config.var_dir) / "customer_service" / "models")


def _source_fingerprint(paths: dict, base_model: str | None) -> str:
    """What the first version was made from: a model directory's manifest or the intent files, and the encoder."""
    digest = hashlib.sha256(str(base_model or "").encode())
    files = [Path(paths["model"]) / "manifest.json"] if paths.get("model") else [paths["intents"], *([paths["oos"]] if paths.get("oos") else [])]
    for path in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def ensure_model(paths: dict, store: ArtifactStore, *, base_model: str | None = None, progress: bool = True) -> Path:
    """The store's active version when it was made from these files (retrained since, perhaps),
    else a new first version made from them (a model directory copied, or intents trained)."""
    source = _source_fingerprint(paths, base_model)
    active = store.active()
    if active is not None and (active / "detector.json").exists():
        if json.loads((active / "detector.json").read_text()).get("extra", {}).get("source") == source:
            return active
    if paths.get("model"):
        detector = OutOfScopeDetector.load(paths["model"])  # its ONNX export is copied, not made again
    else:
        detector = _train_detector(paths, base_model, progress)
    version = detector.save(store.new_version_dir(), extra={**getattr(detector, "extra_", {}), "source": source})
    return store.activate(version)


def _kb_encoder(config: Config, retrieval_model: Path | None):
    """The knowledge base's encoder (a tuned one, else the base model) as ONNX int8, exported once
    per encoder version under var_dir."""
    from shared.biencoder import load_biencoder
    from shared.onnx_runtime import OnnxEncoder, export_onnx_encoder

    if retrieval_model is not None:
        load_biencoder(retrieval_model)  # verifies its manifest before anything is read
        path, key = str(retrieval_model), (Path(retrieval_model) / "manifest.json").read_bytes()
    else:
        path = resolve_encoder(config.base_model or None)
        key = path.encode()
    cache = Path(config.var_dir) / "customer_service" / f"kb-encoder-{hashlib.sha256(key).hexdigest()[:12]}"
    if cache.exists():
        return OnnxEncoder.load(cache, threads=ONNX_THREADS)
    return export_onnx_encoder(path, cache, threads=ONNX_THREADS)


class BotHolder:
    """The bot the service asks, swapped whole when a new one is ready."""

    def __init__(self):
        self.bot: IntentBot | None = None
        self.version: Path | None = None  # the store version serving
        self.watcher: ActiveWatcher | None = None

    def __call__(self) -> IntentBot | None:
        return self.bot


def make_plugin(config: Config) -> Plugin:
    settings = config.section("customer_service")
    check_keys(settings)
    engine = engine_for(config.database_url)
    holder = BotHolder()
    chats = Conversations(engine)
    webhook = settings.get("handoff_webhook")
    service = ChatService(chats, bot=holder, notifier=HandoffNotifier(chats, webhook) if webhook else None)
    blueprint, spec = make_blueprint(service, cors_origins=config.cors_origins, settings=settings)
    paths = _paths(settings, Path.cwd())
    thresholds = settings.get("thresholds")
    handoff_intents = _handoff_intents(settings)
    oos_action = settings.get("oos_action", "reply")
    if oos_action not in OOS_ACTIONS:  # a typo fails at start-up, not on the first out-of-scope message
        raise ConfigError(f"[customer_service] oos_action must be one of {', '.join(OOS_ACTIONS)}, got {oos_action!r}")
    onnx = settings.get("onnx", True)
    retrieval_model = Path(settings["retrieval_model"]) if settings.get("retrieval_model") else None
    store = model_store(config)

    def kb_encoder():
        if onnx:
            return _kb_encoder(config, retrieval_model)
        return load_biencoder(retrieval_model) if retrieval_model else Embedder(config.base_model or None)

    def load(version: Path) -> None:
        detector = OutOfScopeDetector.load(version, onnx=onnx)
        knowledge = holder.bot.knowledge if holder.bot else build_knowledge(paths, kb_encoder())
        holder.bot = build_bot(paths, thresholds=thresholds, detector=detector, knowledge=knowledge,
                               handoff_intents=handoff_intents, oos_action=oos_action)
        holder.version = version
        log.info("support bot ready (%s): %d intents, %d knowledge-base passages", version.name, len(detector.intents_),
                 len(knowledge.passages) if knowledge else 0)

    def prepare() -> None:
        migrate(engine, PACKAGE / "migrations", "customer_service_alembic_version")
        active = ensure_model(paths, store, base_model=config.base_model)
        load(active)
        holder.watcher = ActiveWatcher(store, load, interval=float(settings.get("reload_seconds", 2)), current=active).start()

    def ready() -> tuple[bool, str]:
        return (holder.bot is not None, "intent model and knowledge base loaded" if holder.bot else "the bot is still being built")

    return Plugin(name="customer_service", title="Support chat",
                  description="An intent bot that answers, asks when unsure, searches the help pages and hands off to a person.",
                  blueprint=blueprint, url_prefix="/cs", prepare=prepare, ready=ready, api_spec=spec, state=holder)
