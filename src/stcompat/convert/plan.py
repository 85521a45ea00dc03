"""The backport plan: manifest x target release x knowledge -> the file edits, the losses, the blockers.

Pure: nothing here opens a model file or imports torch. Every decision comes from what the
knowledge base says the target release understands: which import path names the class a module
type means, which keys its constructor takes, which weight files its loader opens, whether it reads
a config_sentence_transformers.json key, whether its tokenizers reads pair-format merges. A
newer key is dropped only when it holds what its constructor does without it (convert/defaults.py).
backport.py carries the plan out; check on the result proves the plan was enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from packaging.version import Version

from ..env.stack import Stack
from ..kb.query import Knowledge, Loader, StRelease, knowledge, parse_version
from ..model.manifest import ModelManifest, ModuleEntry
from ..model.st_config import LEGACY_POOLING_FLAGS, TRANSFORMER_KINDS
from ..rules.engine import equivalent_type
from ..rules.transformers import precision_change
from ..vocab import MergesFormat, ModelKind, Namespace, ValueEnum, WeightFormat
from .defaults import ConstructorDefaults, DefaultsFn, knowledge_defaults

CST = "config_sentence_transformers.json"
MODULES = "modules.json"
BIN = "pytorch_model.bin"
SAFETENSORS = "model.safetensors"


class Action(ValueEnum):
    """What one edit does to the output folder (applied in this order by backport.py)."""

    MOVE = "move"
    """Move ``source`` to ``path`` (a module stored at the root goes into its own folder)."""
    WEIGHTS_TO_BIN = "weights-to-bin"
    """Write ``path`` (pytorch_model.bin) from the safetensors file ``source``, which is then removed."""
    MERGES_TO_STRINGS = "merges-to-strings"
    """Rewrite tokenizer.json's BPE merges from pairs to ``"a b"`` strings (no-op when already strings)."""
    WRITE_JSON = "write-json"
    """Write ``content`` as the JSON file ``path``."""


@dataclass(frozen=True)
class Edit:
    """One change to the copy of the model folder."""

    action: Action
    """What is done."""
    path: str
    """The file written, relative to the output folder."""
    why: str
    """What the target needs it for, in words."""
    source: str | None = None
    """MOVE / WEIGHTS_TO_BIN: the file it comes from."""
    content: Any = None
    """WRITE_JSON: the new content."""


@dataclass(frozen=True)
class Loss:
    """A saved setting the target does not apply: the converted model would behave differently."""

    setting: str
    """The key, e.g. ``prompts`` or ``1_Pooling/config.json include_prompt``."""
    value: Any
    """Its saved value."""
    why: str
    """Why the target loses it."""
    by_hand: str
    """How a caller reproduces it around the converted model."""


@dataclass(frozen=True)
class Blocker:
    """Something no edit can fix: the conversion is impossible (even with --allow-loss)."""

    code: str
    """A code of codes.py (STC75x)."""
    message: str
    """One line."""


@dataclass(frozen=True)
class Plan:
    """Everything a backport does, decided before a byte is written."""

    source: str
    """The model folder converted."""
    target: Stack
    """The target stack."""
    release: str | None
    """The target's sentence-transformers release (None when the target names none)."""
    edits: tuple[Edit, ...] = ()
    """File edits, in the order backport.py applies them."""
    losses: tuple[Loss, ...] = ()
    """Saved behaviour the target does not apply."""
    blockers: tuple[Blocker, ...] = ()
    """Why it cannot be converted at all."""
    dropped: tuple[str, ...] = field(default_factory=tuple)
    """Keys removed because they hold their default (``file key``), for the record."""

    @property
    def feasible(self) -> bool:
        """No blocker."""
        return not self.blockers


# How a caller reproduces each behaviour setting (model/settings.py) around a model that ignores it.
def _by_hand(key: str, value: Any, config: Mapping[str, Any]) -> str:
    if key == "prompts":
        listed = ", ".join(f"{name}: {text!r}" for name, text in value.items() if text)
        return f"prepend the prompt to each text before encoding ({listed})"
    if key == "default_prompt_name":
        prompt = (config.get("prompts") or {}).get(value, "")
        return f"texts encoded without a prompt got the {value!r} prompt: prepend {prompt!r} to them"
    if key == "similarity_fn_name":
        return f"compute similarities with {value} yourself (e.g. util.dot_score for dot), not model.similarity"
    if key == "truncate_dim":
        return f"keep the first {value} values of each embedding (embeddings[:, :{value}])"
    return "apply it by hand"


def _modules_json_entry(module: ModuleEntry, type_path: str, path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"idx": module.idx, "name": module.name, "path": path, "type": type_path}
    if module.kwargs:
        entry["kwargs"] = list(module.kwargs)
    return entry


class _Planner:
    """Accumulates the plan for one model and one target release."""

    def __init__(self, manifest: ModelManifest, target: Stack, st: StRelease, newest: StRelease, kb: Knowledge,
                 defaults: DefaultsFn) -> None:
        self.m, self.target, self.st, self.newest, self.kb, self.defaults = manifest, target, st, newest, kb, defaults
        self.edits: list[Edit] = []
        self.writes: list[Edit] = []
        self.losses: list[Loss] = []
        self.blockers: list[Blocker] = []
        self.dropped: list[str] = []
        self.moved: dict[str, str] = {}

    def block(self, code: str, message: str) -> None:
        self.blockers.append(Blocker(code, message))

    # -- one config dict against the target's constructor ----------------------------------
    def translate(self, config: Mapping[str, Any], where: str, target: Loader, newest: Loader | None,
                  defaults: ConstructorDefaults | None) -> dict[str, Any]:
        """The config with every key the target's constructor takes, under the name it takes it."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            if target.accepts(key):
                out[key] = value
                continue
            # The newer release renamed an older key to this one: the target takes the older name.
            older = next((old for old, new in (newest.config_key_renames if newest else {}).items()
                          if new == key and target.accepts(old)), None)
            if older is not None:
                out[older] = value
            elif defaults is not None and defaults.holds_default(key, value, config):
                self.dropped.append(f"{where} {key}")
            else:
                known = "" if defaults is not None else " (its default is not known here)"
                self.block("STC753", f"{where} {key}={value!r} has no equivalent in {target.class_name} of "
                                     f"sentence-transformers {self.st.version}{known}")
        return out

    def unread_config(self, config: Mapping[str, Any], where: str, target: Loader,
                      defaults: ConstructorDefaults | None) -> None:
        """The target's loader never reads this config: every key must hold its default."""
        for key, value in config.items():
            if not (defaults is not None and defaults.holds_default(key, value, config)):
                self.block("STC753", f"{where} {key}={value!r} is not read by {target.class_name} of "
                                     f"sentence-transformers {self.st.version}")

    # -- modules ---------------------------------------------------------------------------
    def module(self, position: int, module: ModuleEntry) -> dict[str, Any] | None:
        """The module's new modules.json entry; queues its config, layout and weight edits."""
        if module.namespace is Namespace.CUSTOM:
            self.block("STC752", f"module {module.name} is {module.type}, code outside sentence_transformers")
            return None
        new_type = equivalent_type(module.type, self.st, self.newest)
        if new_type is None:
            self.block("STC752", f"sentence-transformers {self.st.version} has no {module.kind} "
                                 f"(modules.json [{position}] {module.type})")
            return None
        target_origin = self.st.resolve_class(new_type).origin
        newest_origin = self.newest.resolve_class(module.type).origin
        loader = self.st.loader(target_origin) if target_origin else None
        newest_loader = self.newest.loader(newest_origin) if newest_origin else None
        defaults = self.defaults(newest_origin) if newest_origin else None
        path = self.relocate(position, module, loader)
        if loader is None:
            return _modules_json_entry(module, new_type, path)
        self.module_weights(module, path, loader)
        if module.config_file is None:
            return _modules_json_entry(module, new_type, path)
        config_file = self.moved.get(module.config_file, module.config_file)
        if module.kind in TRANSFORMER_KINDS:
            config = self.transformer_config(module, config_file, loader, newest_loader, defaults)
        elif module.kind == "Router":
            config = self.router_config(module, config_file, loader, newest_loader, defaults)
        elif module.kind == "Pooling":
            config = self.pooling_config(module, config_file, loader, newest_loader, defaults)
        elif loader.mode in ("splat", "filter"):
            config = self.translate(module.config, config_file, loader, newest_loader, defaults)
        else:
            if loader.mode == "no-config":
                self.unread_config(module.config, config_file, loader, defaults)
            config = dict(module.config)
        if config != dict(module.config):
            self.writes.append(Edit(Action.WRITE_JSON, config_file, f"{loader.class_name} of sentence-transformers "
                                    f"{self.st.version} takes these keys", content=config))
        return _modules_json_entry(module, new_type, path)

    def relocate(self, position: int, module: ModuleEntry, loader: Loader | None) -> str:
        """A module stored at the root moves into its own folder where the target builds root modules
        from the folder path (3.2-4.x: ``module_class(model_path, ...)``)."""
        root = self.st.root_construction
        if module.path or module.kind in TRANSFORMER_KINDS or not (root and root.get("any_class")):
            return module.path
        if any(m.path == "" and m.kind in TRANSFORMER_KINDS for m in self.m.modules):
            self.block("STC753", f"{module.kind} shares the model folder's root with a Transformer; "
                                 f"sentence-transformers {self.st.version} builds root modules from the folder")
            return module.path
        folder = f"{module.idx if module.idx is not None else position}_{module.kind}"
        owned = [w.path for w in self.m.weights if "/" not in w.path]
        owned += [name for tok in self.m.tokenizers if tok.folder == "" for name in tok.files]
        for name in dict.fromkeys(owned):
            self.moved[name] = f"{folder}/{name}"
            self.edits.append(Edit(Action.MOVE, f"{folder}/{name}", f"sentence-transformers {self.st.version} "
                                   f"builds a module stored at the root from the folder path", source=name))
        return folder

    def transformer_config(self, module: ModuleEntry, where: str, loader: Loader, newest: Loader | None,
                           defaults: ConstructorDefaults | None) -> dict[str, Any]:
        config = self.translate(module.config, where, loader, newest, defaults)
        info = self.m.transformer
        if info is not None and loader.accepts("max_seq_length") and "max_seq_length" not in config \
                and info.max_seq_length is not None:
            # 5.4+ keeps it as the tokenizer's model_max_length, capped by the position embeddings.
            limit = info.max_seq_length
            if info.max_position_embeddings:
                limit = min(limit, info.max_position_embeddings)
            config["max_seq_length"] = limit
        if loader.accepts("do_lower_case") and "do_lower_case" not in config:
            # 5.4+ folds lower-casing into tokenizer.json's normalizer, which every release reads.
            config["do_lower_case"] = bool(info.do_lower_case) if info and info.do_lower_case is not None else False
        return config

    def pooling_config(self, module: ModuleEntry, where: str, loader: Loader, newest: Loader | None,
                       defaults: ConstructorDefaults | None) -> dict[str, Any]:
        config = dict(module.config)
        flags = [f for f in loader.init_params if f in (newest.legacy_pooling_flags if newest else ())]
        if "pooling_mode" in config and flags:
            # The target's saves write one boolean per mode; the newest converts them back.
            raw = config.pop("pooling_mode")
            modes = (raw,) if isinstance(raw, str) else tuple(raw or ())
            by_mode = {mode: flag for flag, mode in LEGACY_POOLING_FLAGS.items()}
            for mode in modes:
                if by_mode.get(mode) not in flags:
                    self.block("STC752", f"{where} pooling_mode {mode!r} does not exist in Pooling of "
                                         f"sentence-transformers {self.st.version}")
            config = {**config, **{flag: LEGACY_POOLING_FLAGS[flag] in modes for flag in flags}}
        # Legacy booleans the target's Pooling lacks (weightedmean and lasttoken before 2.3): an unset
        # mode is what that Pooling does anyway; a set one is a mode it does not have.
        for flag in [k for k in config if k in LEGACY_POOLING_FLAGS and not loader.accepts(k)]:
            if config.pop(flag):
                self.block("STC752", f"{where} pooling mode {LEGACY_POOLING_FLAGS[flag]!r} does not exist in "
                                     f"Pooling of sentence-transformers {self.st.version}")
            else:
                self.dropped.append(f"{where} {flag}")
        include = config.get("include_prompt")
        if include is False and not loader.accepts("include_prompt"):
            # Only prompts make it matter, and a release without include_prompt has no prompts either.
            config.pop("include_prompt")
            self.losses.append(Loss(f"{where} include_prompt", False, f"Pooling of sentence-transformers "
                                    f"{self.st.version} has no include_prompt: prompt tokens are pooled",
                                    "a prompt prepended by hand is pooled with the text"))
        translated = self.translate(config, where, loader, newest, defaults)
        # Legacy saves put the dimension first, then the flags.
        return dict(sorted(translated.items(), key=lambda kv: not kv[0].endswith("dimension")))

    def router_config(self, module: ModuleEntry, where: str, loader: Loader, newest: Loader | None,
                      defaults: ConstructorDefaults | None) -> dict[str, Any]:
        config = dict(module.config)
        types = config.get("types")
        if isinstance(types, dict):
            new_types = {}
            for route, type_path in types.items():
                translated = equivalent_type(type_path, self.st, self.newest) if isinstance(type_path, str) else None
                if translated is None:
                    self.block("STC752", f"{where} types.{route} {type_path} has no equivalent in "
                                         f"sentence-transformers {self.st.version}")
                    continue
                new_types[route] = translated
                route_loader = self.st.loader(self.st.resolve_class(translated).origin or "")
                if route_loader is not None and route_loader.mode in ("splat", "filter"):
                    self.block("STC753", f"{where} route {route}: its {route_loader.class_name} config is not "
                                         "read by inspect, so convert cannot rewrite it")
            config["types"] = new_types
        parameters = config.get("parameters")
        if isinstance(parameters, dict):
            config["parameters"] = self.translate(parameters, f"{where} parameters", loader, newest, defaults)
        return config

    def module_weights(self, module: ModuleEntry, path: str, loader: Loader) -> None:
        """A module whose loader opens only pytorch_model.bin gets one written from its safetensors."""
        if not loader.weight_files or not path or module.kind in TRANSFORMER_KINDS:
            return
        present = [w.path.rsplit("/", 1)[-1] for w in self.m.weights
                   if self.moved.get(w.path, w.path).rsplit("/", 1)[0] == path]
        if not present or any(name in loader.weight_files for name in present):
            return
        if BIN in loader.weight_files and SAFETENSORS in present:
            self.edits.append(Edit(Action.WEIGHTS_TO_BIN, f"{path}/{BIN}", f"{loader.class_name} of "
                                   f"sentence-transformers {self.st.version} opens only "
                                   f"{', '.join(loader.weight_files)}", source=f"{path}/{SAFETENSORS}"))
        else:
            self.block("STC753", f"{path} holds {', '.join(present)}; {loader.class_name} of sentence-transformers "
                                 f"{self.st.version} opens only {', '.join(loader.weight_files)}")

    # -- the rest of the folder ------------------------------------------------------------
    def precision(self) -> None:
        """A half checkpoint the target computes in another dtype than the saving transformers did (a 5.x save
        in float16 is computed in float32 by 4.x): no file edit changes that, so it is a loss."""
        info, version = self.m.transformer, self.target.get("transformers")
        change = precision_change(self.kb, self.m, info, version) if info and version else None
        if change is None:
            return
        self.losses.append(Loss(f"{change.file} {change.key or 'dtype'}", change.dtype,
                                f"transformers {version} computes this {change.dtype} checkpoint in "
                                f"{change.target_computes}; the transformers that saved it computed in "
                                f"{change.saved_computes}",
                                f'load it with model_kwargs={{"torch_dtype": torch.{change.saved_computes}}}'))

    def transformer_weights(self) -> None:
        """Weights only as safetensors, for a target transformers that cannot read them."""
        info, tf = self.m.transformer, self.target.get("transformers")
        if info is None or tf is None:
            return
        folder = info.config_file.rsplit("/", 1)[0] if "/" in info.config_file else ""
        here = [w for w in self.m.weights if (w.path.rsplit("/", 1)[0] if "/" in w.path else "") == folder]
        if {w.format for w in here} != {WeightFormat.SAFETENSORS}:
            return
        reads = self.kb.reads_safetensors(tf)
        missing = (reads and not self.kb.transformers_requires(tf).get("safetensors") and self.target.complete
                   and self.target.get("safetensors") is None)
        if reads is False or missing:
            source = f"{folder}/{SAFETENSORS}".lstrip("/")
            why = (f"transformers {tf} does not read model.safetensors" if reads is False else
                   "the target has no safetensors package")
            floor, _ = self.kb.torch_load_floor(tf)
            torch = self.target.get("torch")
            if floor and torch is not None and Version(torch.base_version) < Version(floor):
                self.block("STC753", f"{why}, and transformers {tf} refuses pytorch_model.bin on torch {torch}")
                return
            self.edits.append(Edit(Action.WEIGHTS_TO_BIN, f"{folder}/{BIN}".lstrip("/"), why, source=source))

    def tokenizers(self) -> None:
        """BPE merges stored as pairs, for a tokenizers release that reads only strings."""
        version = self.target.get("tokenizers")
        # Strings are read by every tokenizers release: convert when the target's is unknown too.
        if version is not None and self.kb.reads_merges_pairs(version):
            return
        why = (f"tokenizers {version} reads BPE merges only as strings" if version is not None else
               "the target's tokenizers is not known; every tokenizers release reads merges as strings")
        folders = [t.folder for t in self.m.tokenizers if t.merges_format is MergesFormat.PAIRS]
        # Router routes keep their tokenizers in folders inspect does not read: rewrite any pairs there too.
        for module in self.m.modules:
            routes = module.config.get("types") if module.kind == "Router" else None
            if isinstance(routes, dict):
                folders += [str(route) for route in routes]
        for folder in dict.fromkeys(folders):
            path = f"{folder}/tokenizer.json" if folder else "tokenizer.json"
            self.edits.append(Edit(Action.MERGES_TO_STRINGS, self.moved.get(path, path), why))

    def settings(self) -> None:
        """config_sentence_transformers.json: settings the target does not read are lost."""
        config = self.m.st_config
        if not config.present:
            return
        raw = dict(config.raw)
        for key, value in self.m.saved_settings.items():
            if self.st.reads_config_key(key):
                continue
            raw.pop(key, None)
            self.losses.append(Loss(key, value, f"sentence-transformers {self.st.version} does not read {key}",
                                    _by_hand(key, value, config.raw)))
        version = raw.get("__version__")
        saved = parse_version(version.get("sentence_transformers")) if isinstance(version, dict) else None
        if isinstance(version, dict) and saved is not None and saved > self.st.version:
            # The folder is now in the target's format: the newer-save warning would only mislead.
            raw["__version__"] = {**version, "sentence_transformers": str(self.st.version)}
        if raw != dict(config.raw):
            self.writes.append(Edit(Action.WRITE_JSON, CST, "settings the target reads, and the release whose "
                                    "format the folder now has", content=raw))


def plan_backport(manifest: ModelManifest, target: Stack, kb: Knowledge | None = None,
                  defaults: DefaultsFn = knowledge_defaults) -> Plan:
    """What converting ``manifest`` for ``target`` takes: edits, losses, and blockers if it cannot be done."""
    kb = kb or knowledge()
    version = target.get("sentence-transformers")
    st = kb.st(version) if version is not None else None
    newest = kb.st_newest()
    base = Plan(source=manifest.path, target=target, release=str(version) if version else None)
    if st is None or newest is None:
        covered = f"{kb.st_releases[0].version} to {newest.version}" if newest else "nothing"
        what = f"sentence-transformers {version}" if version else "a target without a sentence-transformers pin"
        return Plan(**{**base.__dict__, "blockers": (Blocker("STC750", f"{what} is not in the knowledge base "
                                                                       f"(it covers {covered})"),)})
    if manifest.model_kind is not ModelKind.SENTENCE_TRANSFORMER:
        return Plan(**{**base.__dict__, "blockers": (Blocker(
            "STC751", f"the model is a {manifest.model_kind}; convert rewrites SentenceTransformer folders "
                      "(the knowledge covers what SentenceTransformer(path) does)"),)})
    planner = _Planner(manifest, target, st, newest, kb, defaults)
    entries = [planner.module(i, m) for i, m in enumerate(manifest.modules)]
    if manifest.modules and all(e is not None for e in entries):
        before = [_modules_json_entry(m, m.type, m.path) for m in manifest.modules]
        if entries != before:
            planner.writes.insert(0, Edit(Action.WRITE_JSON, MODULES, f"import paths and folders that "
                                          f"sentence-transformers {st.version} has", content=entries))
    planner.transformer_weights()
    planner.precision()
    planner.tokenizers()
    planner.settings()
    order = list(Action)
    edits = sorted(planner.edits, key=lambda e: order.index(e.action)) + planner.writes
    return Plan(source=manifest.path, target=target, release=str(st.version), edits=tuple(edits),
                losses=tuple(planner.losses), blockers=tuple(dict.fromkeys(planner.blockers)),
                dropped=tuple(planner.dropped))
